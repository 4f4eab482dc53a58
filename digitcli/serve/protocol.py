"""uvicorn's HTTP protocol with a deadline for each request's headers.

uvicorn bounds the wait between keep-alive requests, but a client that trickles its
request line and headers a byte at a time stays connected for ever. Here each request's
headers must be complete within HEADER_SECONDS of the connection opening or the previous
response ending; otherwise the connection is closed.
"""

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_SECONDS = 10.0


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timer = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self.start_header_clock()

    def on_headers_complete(self):
        self.stop_header_clock()
        super().on_headers_complete()

    def on_response_complete(self):
        super().on_response_complete()
        if not self.transport.is_closing():
            self.start_header_clock()

    def connection_lost(self, exc):
        self.stop_header_clock()
        super().connection_lost(exc)

    def start_header_clock(self):
        self.stop_header_clock()
        self.header_timer = self.loop.call_later(HEADER_SECONDS, self.headers_too_slow)

    def stop_header_clock(self):
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def headers_too_slow(self):
        self.header_timer = None
        in_flight = self.cycle is not None and not self.cycle.response_complete  # its headers came in time
        if not in_flight and not self.transport.is_closing():
            self.transport.close()
