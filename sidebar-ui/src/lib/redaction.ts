import type { Category } from "../bindings";

/** Secrets blacked out in a picture, by category. */
export type Redactions = Partial<Record<Category, number>>;

/** The categories in the order the settings list them, with what the
 * checkbox says; `byDefault` ones are on unless the user turns them off
 * (and stay on under an administrator's policy). */
export const categories: { id: Category; label: string; byDefault: boolean }[] = [
  { id: "private_key", label: "Private keys", byDefault: true },
  { id: "token", label: "Access tokens and API keys", byDefault: true },
  { id: "password", label: "Passwords", byDefault: true },
  { id: "card_number", label: "Card numbers", byDefault: true },
  { id: "iban", label: "IBANs (bank account numbers)", byDefault: true },
  { id: "high_entropy", label: "Long random-looking strings", byDefault: true },
  { id: "email", label: "E-mail addresses (off by default)", byDefault: false },
  { id: "phone", label: "Phone numbers (off by default)", byDefault: false },
  { id: "custom", label: "Matches of your own patterns (below)", byDefault: true },
];

export const defaultCategories: Category[] = categories.filter((c) => c.byDefault).map((c) => c.id);

// As the summary line counts them (the client's own words): one, many.
const counted: Record<Category, [string, string]> = {
  private_key: ["private key", "private keys"],
  token: ["token", "tokens"],
  password: ["password", "passwords"],
  card_number: ["card number", "card numbers"],
  iban: ["IBAN", "IBANs"],
  high_entropy: ["random string", "random strings"],
  email: ["e-mail address", "e-mail addresses"],
  phone: ["phone number", "phone numbers"],
  custom: ["own pattern", "own patterns"],
};

/** How many secrets were blacked out in all. */
export function redactionCount(redactions: Redactions | undefined): number {
  return Object.values(redactions ?? {}).reduce((sum, count) => sum + (count ?? 0), 0);
}

/** "1 token, 2 card numbers", in the settings' order; "" when none. */
export function redactionList(redactions: Redactions | undefined): string {
  return categories
    .map(({ id }) => [id, redactions?.[id] ?? 0] as const)
    .filter(([, count]) => count > 0)
    .map(([id, count]) => `${count} ${counted[id][count === 1 ? 0 : 1]}`)
    .join(", ");
}
