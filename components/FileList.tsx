import { formatBytes } from "../lib/transfer/rate.ts";
import { safeRelativePath } from "../lib/transfer/sinks/names.ts";

/**
 * A share's files with their sizes and the total, as both pages show it; a
 * shared folder's files with their paths.
 */
export function FileList(
  { files }: { files: { name: string; size: number; path?: string }[] },
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
            {/* A folder's file shows where it goes: its path, made safe. */}
            <span class="name">{safeRelativePath(file).join("/")}</span>
            <span class="size">{formatBytes(file.size)}</span>
          </li>
        ))}
      </ul>
    </>
  );
}
