"""People's access to the haven: who they are (users, grants), how they prove it (passwords,
personal tokens, web sessions) and what each role may do (docs/access.md, docs/web.md).

Both edges, the command line and the web portal, ask these modules, so the rules are the same
whichever door a person uses (issue 14 part 0)."""
