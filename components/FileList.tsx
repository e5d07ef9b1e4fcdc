import { formatBytes } from "../lib/transfer/rate.ts";
import { safeFileName } from "../lib/transfer/sinks/names.ts";

/** A share's files with their sizes and the total, as both pages show it. */
export function FileList(
  { files }: { files: { name: string; size: number }[] },
) {
  const total = files.reduce((n, f) => n + f.size, 0);
  return (
    <>
      <h2>
        {files.length} file{files.length === 1 ? "" : "s"},{" "}
        <span class="total">{formatBytes(total)}</span>
      </h2>
      <ul class="file-list">
        {files.map((file, i) => (
          <li key={i}>
            <span class="name">{safeFileName(file.name)}</span>
            <span class="size">{formatBytes(file.size)}</span>
          </li>
        ))}
      </ul>
    </>
  );
}
