import type { ClientError } from "../bindings";

/** What went wrong, in words a person can act on. */
export function explain(error: ClientError | string, server?: string | null): string {
  if (typeof error === "string") return error;
  const where = server ? ` at ${server}` : "";
  switch (error.kind) {
    case "server_unreachable":
      return `Sightline can't reach the server${where}. Check the address, that the server is running, and that your network allows the connection.`;
    case "certificate_rejected":
      return "The server did not accept this computer's certificate. It may have expired or be meant for another server — ask your administrator for a new certificate package.";
    case "certificate_revoked":
      return "This computer's certificate has been revoked. Ask your administrator for a new certificate package.";
    case "certificate_expired":
      return "This computer's certificate has expired. Ask for access again to get a new certificate package.";
    case "server_not_trusted":
      return `The server's certificate is not signed by a CA this computer trusts for it, so Sightline stopped before sending anything. Check the address — you may be reaching a different server. If your server now uses a certificate from your company or a public CA, set up again with a new package from it: the package names that CA.`;
    case "login_needed":
      return "Your session has ended. Please log in again.";
    case "not_set_up":
      return "Set up the connection to your server first.";
    case "invalid":
      return `${capitalise(error.detail.what)}: ${error.detail.detail}.`.replace(/\.\.$/, ".");
    case "api":
      return error.detail.retry_after
        ? `${error.detail.message} (try again in ${error.detail.retry_after} s)`
        : error.detail.message;
    case "protocol":
      return `The server answered something unexpected (${error.detail}). Is this a Sightline server?`;
    case "capture":
      return `The screen could not be captured: ${error.detail}`;
    case "clipboard":
      return `The clipboard is not available: ${error.detail}`;
    case "injection":
      return `Nothing was typed: ${error.detail}`;
    case "screen_access":
      switch (error.detail.state) {
        case "not_asked":
          return "Sightline has not been allowed to see the screen yet.";
        case "refused":
          return "Seeing the screen was not allowed.";
        case "stopped":
          return "Screen sharing was stopped from the desktop's top bar.";
        case "unavailable":
          return `The screen cannot be seen here: ${error.detail.reason}.`;
        default:
          return "Sightline may see the screen.";
      }
    case "focus_unknown":
      return `Which window has the focus cannot be told: ${error.detail}.`;
    case "redaction": {
      // The client's own words: what could not be checked for secrets, or
      // what the administrator's policy refused. Nothing left the computer.
      const detail = error.detail.trim().replace(/\.$/, "");
      if (!detail) return "Nothing was sent: it could not be checked for secrets.";
      return /nothing was sent|administrator/i.test(detail)
        ? `${capitalise(detail)}.`
        : `Nothing was sent: it could not be checked for secrets (${detail}).`;
    }
    case "io":
      return error.detail || "Something went wrong.";
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
