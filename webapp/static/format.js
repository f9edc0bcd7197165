// Numbers as a person reads them, shared by the pages' modules.
export const number = new Intl.NumberFormat("en-US");

/** A size in bytes: "812 bytes", "3.4 MiB", "27 GiB". */
export function bytes(size) {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${number.format(value)} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
