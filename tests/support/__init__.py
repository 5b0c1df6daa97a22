"""Code the tests (and some benchmarks) share, kept out of the installed package: the browser
fixtures, the mutation suites' loader, the kill storm and the site's browser driver."""
