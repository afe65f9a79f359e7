// ms@3 ships types its package.json "exports" does not point to under NodeNext resolution.
declare module 'ms' {
  function ms(value: string): number;
  function ms(value: number, options?: { long?: boolean }): string;
  export default ms;
}
