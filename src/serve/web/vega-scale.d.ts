// vega-scale (installed with vega, whose scales the report's charts use) ships types its package
// exports do not point at; the explorer needs only the colour scheme lookup.
declare module 'vega-scale' {
  export function scheme(name: string): unknown;
}
