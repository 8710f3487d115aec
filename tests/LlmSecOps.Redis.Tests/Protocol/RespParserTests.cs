using System.Buffers;
using System.Text;
using LlmSecOps.Redis.Protocol;

namespace LlmSecOps.Redis.Tests.Protocol;

public sealed class RespParserTests
{
    private const string Stream =
        "+OK\r\n-ERR bad thing\r\n:-42\r\n$5\r\nhe\r\nl\r\n$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n" +
        "*3\r\n:1\r\n*2\r\n$1\r\na\r\n+b\r\n$3\r\nxyz\r\n";

    [Fact]
    public void EveryReplyTypeIsParsedIncludingNestingAndBinarySafeBulkStrings()
    {
        var replies = ParseAll(Encoding.UTF8.GetBytes(Stream), out var consumed);
        Assert.Equal(Encoding.UTF8.GetByteCount(Stream), consumed);
        Assert.Equal(9, replies.Count);
        Assert.Equal("OK", replies[0].AsString());
        Assert.Equal(RedisValueType.Error, replies[1].Type);
        Assert.Equal("ERR bad thing", replies[1].AsString());
        Assert.Equal(-42, replies[2].AsInt64());
        Assert.Equal("he\r\nl", replies[3].AsString());
        Assert.True(replies[4].IsNull);
        Assert.True(replies[5].IsNull);
        Assert.Equal(0, replies[6].Length);
        Assert.Equal("", replies[7].AsString());
        Assert.Equal(1, replies[8][0].AsInt64());
        Assert.Equal("a", replies[8][1][0].AsString());
        Assert.Equal("b", replies[8][1][1].AsString());
        Assert.Equal("xyz", replies[8][2].AsString());
    }

    [Fact]
    public void EverySplitPointYieldsTheSameRepliesAsOneBuffer()
    {
        var bytes = Encoding.UTF8.GetBytes(Stream);
        var expected = ParseAll(bytes, out _);
        for (var split = 1; split < bytes.Length; split++)
        {
            // Feed the first part, then everything: an incomplete reply must not be consumed or half-built.
            var first = ParseAll(bytes[..split], out var consumed);
            var rest = ParseAll(bytes[consumed..], out var consumedRest);
            Assert.Equal(bytes.Length, consumed + consumedRest);
            Assert.Equal(expected, first.Concat(rest).ToList());
        }
    }

    [Fact]
    public void MultiSegmentSequencesParse()
    {
        var bytes = Encoding.UTF8.GetBytes(Stream);
        var sequence = Segments(bytes, 3);
        var reader = new SequenceReader<byte>(sequence);
        var count = 0;
        while (RespParser.TryParse(ref reader, out _))
        {
            count++;
        }

        Assert.Equal(9, count);
        Assert.True(reader.End);
    }

    [Theory]
    [InlineData("?what\r\n")]
    [InlineData(":12x\r\n")]
    [InlineData("$3\r\nabcd\r\n")]
    [InlineData("$-7\r\n")]
    [InlineData("+OK\n")]
    public void CorruptStreamsAreProtocolErrors(string text)
    {
        Assert.Throws<RedisConnectionException>(() => ParseAll(Encoding.UTF8.GetBytes(text), out _));
    }

    [Fact]
    public void NestingDeeperThanTheBoundIsRefused()
    {
        var text = string.Concat(Enumerable.Repeat("*1\r\n", 40)) + ":1\r\n";
        Assert.Throws<RedisConnectionException>(() => ParseAll(Encoding.UTF8.GetBytes(text), out _));
    }

    [Fact]
    public void CommandsAreSerializedAsRespBulkStrings()
    {
        using var buffer = new RespBuffer(8);
        buffer.WriteArrayHeader(5);
        buffer.WriteBulk("SET");
        buffer.WriteBulk("ключ");
        buffer.WriteBulk(-12L);
        buffer.WriteBulk(1.5);
        buffer.WriteBulk(new byte[] { 0, 13, 10 });
        Assert.Equal(
            "*5\r\n$3\r\nSET\r\n$8\r\nключ\r\n$3\r\n-12\r\n$3\r\n1.5\r\n$3\r\n\0\r\n\r\n",
            Encoding.UTF8.GetString(buffer.Written.Span));
    }

    private static List<RedisValue> ParseAll(byte[] bytes, out int consumed)
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        var list = new List<RedisValue>();
        while (RespParser.TryParse(ref reader, out var value))
        {
            list.Add(value);
        }

        consumed = (int)reader.Consumed;
        return list;
    }

    private static ReadOnlySequence<byte> Segments(byte[] bytes, int size)
    {
        Segment? first = null;
        Segment? last = null;
        for (var i = 0; i < bytes.Length; i += size)
        {
            var memory = bytes.AsMemory(i, Math.Min(size, bytes.Length - i));
            if (last is null)
            {
                first = last = new Segment(memory, 0);
            }
            else
            {
                last = last.Append(memory);
            }
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
