import { marked } from "marked";
import DOMPurify from "dompurify";

marked.setOptions({ gfm: true, breaks: true });

/**
 * Model output as HTML that is safe to insert: Markdown is rendered, then
 * everything that could run code or load anything (scripts, handlers,
 * iframes, remote images, forms) is removed.
 */
export function renderMarkdown(text: string): string {
  const html = marked.parse(text, { async: false }) as string;
  return DOMPurify.sanitize(html, {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ["img", "style", "form", "input", "button", "iframe", "object", "embed", "video", "audio"],
    FORBID_ATTR: ["style", "srcset"],
  });
}

/** The server's QR code: SVG shapes only, nothing active. */
export function safeSvg(svg: string): string {
  return DOMPurify.sanitize(svg, { USE_PROFILES: { svg: true, svgFilters: false } });
}

// Links open nowhere inside the sidebar: they are shown, not followed.
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.removeAttribute("href");
    node.setAttribute("title", "Links are not opened from answers");
  }
});
