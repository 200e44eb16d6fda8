"""The cycler simulator: asyncio CTI server, channel state machine, cell model and schedules."""
