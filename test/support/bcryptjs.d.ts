/** The one function the image tests use from bcryptjs (a transitive dependency, untyped in 2.x): htpasswd lines. */
declare module 'bcryptjs' {
  const bcrypt: { hashSync(password: string, rounds: number): string };
  export default bcrypt;
}
