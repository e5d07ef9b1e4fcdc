import { useMemo } from "preact/hooks";
import qrcode from "qrcode-generator";

/** Builds one SVG path of a QR code's dark modules for `text`. */
function qrPath(text: string): { size: number; d: string } {
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
  const { size, d } = useMemo(() => qrPath(text), [text]);
  return (
    <div class="qr">
      <svg
        viewBox={`0 0 ${size} ${size}`}
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
