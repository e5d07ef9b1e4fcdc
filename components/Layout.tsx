import type { ComponentChildren } from "preact";

/** The frame of every page: header, main content, footer. */
export function Layout({ children }: { children: ComponentChildren }) {
  return (
    <div class="page">
      <header class="site-header">
        <a class="brand" href="/">
          <span class="brand-mark" aria-hidden="true">◆</span> Beam
        </a>
        <span class="tagline">
          Files go browser to browser. The server never sees them.
        </span>
      </header>
      <main id="main">{children}</main>
      <footer class="site-footer">
        <p>
          Peer to peer over WebRTC · end-to-end checked with SHA-256 · nothing
          stored on a server
        </p>
      </footer>
    </div>
  );
}
