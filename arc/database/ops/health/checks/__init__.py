"""One module per check; each is `async def check(ctx) -> CheckResult`."""
