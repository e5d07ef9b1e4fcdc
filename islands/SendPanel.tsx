import { useSignal } from "@preact/signals";

interface SendPanelProps {
  iceServers: RTCIceServer[];
}

export default function SendPanel(_props: SendPanelProps) {
  const files = useSignal<File[]>([]);
  return (
    <section class="card">
      <h1>Send files</h1>
      <label class="button">
        Choose files
        <input
          type="file"
          multiple
          class="visually-hidden"
          onChange={(e) => {
            files.value = [...(e.currentTarget.files ?? [])];
          }}
        />
      </label>
      <ul>{files.value.map((f) => <li key={f.name}>{f.name}</li>)}</ul>
    </section>
  );
}
