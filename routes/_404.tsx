import type { PageProps } from "../lib/http/app.ts";
import { Layout } from "../components/Layout.tsx";

export const title = "Beam · page not found";

export default function NotFoundPage({ url }: PageProps) {
  return (
    <Layout>
      <section class="card notice">
        <h1>Page not found</h1>
        <p>
          Nothing lives at <code>{url.pathname}</code>. A share link looks like
          {" "}
          <code>{url.origin}/r/…#…</code>; check that it was copied whole.
        </p>
        <p>
          <a class="button" href="/">Send files</a>
        </p>
      </section>
    </Layout>
  );
}
