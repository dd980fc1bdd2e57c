/** The claims of the `profile` and `email` scopes (OIDC Core §5.4) for a user as they are now. */
export function userClaims(
  scopes: readonly string[],
  user: { email: string; name: string; updatedAt: string },
): Record<string, unknown> {
  return {
    ...(scopes.includes('email') ? { email: user.email, email_verified: false } : {}),
    ...(scopes.includes('profile')
      ? { name: user.name, updated_at: Math.floor(new Date(user.updatedAt).getTime() / 1000) }
      : {}),
  };
}
