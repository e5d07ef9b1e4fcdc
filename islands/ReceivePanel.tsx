interface ReceivePanelProps {
  senderId: string;
  iceServers: RTCIceServer[];
}

export default function ReceivePanel({ senderId }: ReceivePanelProps) {
  return (
    <section class="card">
      <h1>Receive files</h1>
      <p>From {senderId}</p>
    </section>
  );
}
