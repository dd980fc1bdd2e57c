/** A promise and the function that settles it: a test holds work at a point and lets it go. */
export function signal() {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return { promise, fire };
}
