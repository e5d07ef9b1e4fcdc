/**
 * Fake File System Access handles for sink tests: files record what their
 * writable streams got, folders hold fake files.
 *
 * @module
 */

/**
 * A fake file handle that records what its writable stream got. As in
 * browsers, written bytes land in the file only when the stream closes
 * (`committed`); an aborted stream leaves the file as it was (`aborted`).
 */
export class FakeFile {
  name: string;
  bytes = new Uint8Array();
  removed = false;
  committed = false;
  aborted = false;
  writes = 0;
  failClose = false;
  /** Each write takes this long before it copies the chunk. */
  writeDelayMs = 0;
  /** The distinct buffers that writes were given. */
  buffers = new Set<ArrayBufferLike>();
  constructor(name: string) {
    this.name = name;
  }
  createWritable(): Promise<WritableStream<Uint8Array>> {
    const parts: Uint8Array[] = [];
    return Promise.resolve(
      new WritableStream<Uint8Array>({
        write: async (chunk) => {
          this.writes++;
          this.buffers.add(chunk.buffer);
          if (this.writeDelayMs > 0) {
            await new Promise((r) => setTimeout(r, this.writeDelayMs));
          }
          parts.push(chunk.slice());
        },
        abort: () => {
          this.aborted = true;
        },
        close: () => {
          if (this.failClose) throw new Error("disk full");
          this.committed = true;
          this.bytes = new Uint8Array(
            parts.reduce((sum, part) => sum + part.length, 0),
          );
          let at = 0;
          for (const part of parts) {
            this.bytes.set(part, at);
            at += part.length;
          }
        },
      }),
    );
  }
  remove(): Promise<void> {
    this.removed = true;
    return Promise.resolve();
  }
  /** What was written, as text. */
  get text(): string {
    return new TextDecoder().decode(this.bytes);
  }
  get handle(): FileSystemFileHandle {
    return this as unknown as FileSystemFileHandle;
  }
}

/** A fake folder of fake files and fake folders. */
export class FakeDirectory {
  files = new Map<string, FakeFile>();
  /** Names of folders in it (a folder made here also has a `dirs` entry). */
  folders = new Set<string>();
  dirs = new Map<string, FakeDirectory>();
  getDirectoryHandle(name: string, options: { create?: boolean } = {}) {
    if (this.files.has(name)) {
      return Promise.reject(new DOMException(name, "TypeMismatchError"));
    }
    let dir = this.dirs.get(name);
    if (dir === undefined) {
      if (!options.create && !this.folders.has(name)) {
        return Promise.reject(new DOMException(name, "NotFoundError"));
      }
      dir = new FakeDirectory();
      this.dirs.set(name, dir);
      this.folders.add(name);
    }
    return Promise.resolve(dir);
  }
  /** Every file below this folder by its `/`-separated path, in order made. */
  tree(prefix = ""): Map<string, FakeFile> {
    const all = new Map<string, FakeFile>();
    for (const [name, file] of this.files) all.set(prefix + name, file);
    for (const [name, dir] of this.dirs) {
      for (const [path, file] of dir.tree(`${prefix}${name}/`)) {
        all.set(path, file);
      }
    }
    return all;
  }
  getFileHandle(name: string, options: { create?: boolean } = {}) {
    if (this.folders.has(name)) {
      return Promise.reject(new DOMException(name, "TypeMismatchError"));
    }
    let file = this.files.get(name);
    if (file === undefined) {
      if (!options.create) {
        return Promise.reject(new DOMException(name, "NotFoundError"));
      }
      file = new FakeFile(name);
      this.files.set(name, file);
    }
    return Promise.resolve(file);
  }
  removeEntry(name: string): Promise<void> {
    this.files.delete(name);
    return Promise.resolve();
  }
  get handle(): FileSystemDirectoryHandle {
    return this as unknown as FileSystemDirectoryHandle;
  }
}
