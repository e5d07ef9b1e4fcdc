import { useEffect, useState } from "preact/hooks";

/** Builds one SVG path of a QR code's dark modules for `text`. */
async function qrPath(text: string): Promise<{ size: number; d: string }> {
  // Loaded when the first code is drawn (once files are chosen), not with
  // the page: the generator is a large part of the send page's code.
  const { default: qrcode } = await import("qrcode-generator");
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const size = qr.getModuleCount();
  let d = "";
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      if (qr.isDark(row, col)) d += `M${col + 4},${row + 4}h1v1h-1z`;
    }
  }
  return { size: size + 8, d };
}

/** A QR code as inline SVG (no inline styles or scripts: CSP-clean). */
export function QrCode({ text, label }: { text: string; label: string }) {
  // The send page re-renders with every progress report; the code only
  // changes with the link.
  const [code, setCode] = useState<{ text: string; size: number; d: string }>(
    { text: "", size: 0, d: "" },
  );
  useEffect(() => {
    let current = true;
    qrPath(text).then(
      (path) => current && setCode({ text, ...path }),
      (error) => console.error("Beam: cannot draw the QR code", error),
    );
    return () => {
      current = false;
    };
  }, [text]);
  const { size, d } = code.text === text ? code : { size: 0, d: "" };
  return (
    <div class="qr">
      <svg
        viewBox={`0 0 ${size || 1} ${size || 1}`}
        role="img"
        aria-label={label}
        shape-rendering="crispEdges"
      >
        <rect width={size} height={size} fill="#fff" />
        <path d={d} fill="#000" />
      </svg>
    </div>
  );
}
