// Imported first (before uPlot): WebKitGTK reports `navigator.language` as "C" when the session
// runs with LANG=C or no LANG at all, and uPlot calls `new Intl.NumberFormat(navigator.language)`
// when it is imported, which throws "invalid language tag: C" and leaves the window blank.
// A language Intl refuses is replaced by the default locale's tag.
function usable(tag: string): boolean {
  try {
    new Intl.NumberFormat(tag);
    return true;
  } catch {
    return false;
  }
}

if (!usable(navigator.language)) {
  const fallback = new Intl.NumberFormat().resolvedOptions().locale || "en-US";
  Object.defineProperty(navigator, "language", { get: () => fallback, configurable: true });
}

export {};
