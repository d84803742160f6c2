"""Watching an SSE stream for usage and its end, whatever way its bytes are split."""

from __future__ import annotations

from bandit_router.proxy.meter import StreamMeter

STREAM = (b'data: {"choices":[{"delta":{"content":"hi"}}],"usage":null}\r\n\r\n'
          b': keep-alive\r\n\r\n'
          b'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":1}}\r\n\r\n'
          b'data: [DONE]\r\n\r\n')


def test_events_split_across_reads_pass_through_whole_and_usage_is_read():
    for drop in (False, True):
        meter = StreamMeter(drop_usage_chunk=drop)
        out = b"".join(meter.feed(STREAM[i:i + 5]) for i in range(0, len(STREAM), 5))
        out += meter.flush()
        assert meter.done and meter.usage == (7, 1)
        expected = STREAM if not drop else STREAM.replace(
            b'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":1}}\r\n\r\n', b"")
        assert out == expected


def test_without_usage_the_tokens_are_one_per_content_chunk():
    meter = StreamMeter(drop_usage_chunk=True)
    meter.feed(b'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"choices":[{"delta"')
    assert not meter.done
    tokens = meter.tokens(input_estimate=30)
    assert (tokens.input, tokens.output, tokens.source) == (30, 1, "estimated")
