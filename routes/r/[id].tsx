import type { PageProps } from "../../lib/http/app.ts";
import { Layout } from "../../components/Layout.tsx";
import ReceivePanel from "../../islands/ReceivePanel.tsx";

export const title = "Beam · receive files";

export default function ReceivePage({ app, params }: PageProps) {
  return (
    <Layout>
      <ReceivePanel
        senderId={params.id}
        iceServers={app.config.iceServers}
        iceUrl={app.config.turn ? "/api/ice" : null}
        iceTransportPolicy={app.config.testIcePolicy ?? null}
        connectTimeoutMs={app.config.connectTimeoutMs}
        senderAwayMs={app.config.senderAwayMs}
      />
    </Layout>
  );
}
