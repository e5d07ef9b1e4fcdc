import type { PageProps } from "../lib/http/app.ts";
import { Layout } from "../components/Layout.tsx";
import SendPanel from "../islands/SendPanel.tsx";

export const title = "Beam · send files browser to browser";

export default function SendPage({ app }: PageProps) {
  return (
    <Layout>
      <SendPanel
        iceServers={app.config.iceServers}
        iceUrl={app.config.turn ? "/api/ice" : null}
        iceTransportPolicy={app.config.testIcePolicy ?? null}
        connectTimeoutMs={app.config.connectTimeoutMs}
      />
    </Layout>
  );
}
