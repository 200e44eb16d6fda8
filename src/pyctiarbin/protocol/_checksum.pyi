def byte_sum(data: bytes | bytearray | memoryview, start: int = 0, end: int | None = None) -> int:
    """The sum of ``data[start:end]`` modulo 2**16."""
