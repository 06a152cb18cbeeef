"""Development tools run by the Makefile (`make reliability`, `make audit`); not part of the site."""
