// Loaded in <head> before the page is drawn: styles that hide things until site.js runs (the phone
// menu) apply only when scripts run. A file, not an inline script: the Content-Security-Policy
// allows scripts from this site only.
document.documentElement.classList.add("js");
