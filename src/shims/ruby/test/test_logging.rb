# frozen_string_literal: true

# Log output: what `puts`, Logger and everything else writing to fd 1/2 produce, as
# aws_lambda_ric writes it on Lambda (Logger and Kernel#puts patched), and that none of it
# can reach the frame channel (the harness's frame reader fails on anything malformed).
# Peer sources cited as FILE:LINE are aws/aws-lambda-ruby-runtime-interface-client lib/ (see README).
require_relative 'harness'

class LoggingTest < Minitest::Test
  include RubyShim::Helpers

  TIME = '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}'

  # The logs after logs.rb's own init-time line.
  def invoke_logs(w)
    w.logs.b.sub(/\AI, [^\n]* logged at init\n/n, '')
  end

  def test_puts
    # Kernel#puts patch (aws_lambda_ric.rb:174-181): arguments flattened, joined by "\n", one
    # newline added unless there is one; the sink writes it to $stdout (telemetry_log_sink.rb:27-28).
    w = ready('logs.puts_variants')
    h, = w.invoke
    assert_equal 'result', h['type']
    assert_equal "one line\nfirst\nsecond\nthird\nmulti\nline\n\n\nends with newline\n", invoke_logs(w)
  end

  def test_binary_strings_are_written_as_they_are
    w = ready('logs.binary_puts')
    h, = w.invoke
    assert_equal 'result', h['type']
    assert_equal "caf\xC3\xA9\n\xFF\xFE\n".b, invoke_logs(w).b
  end

  def test_other_streams_and_subprocesses_reach_the_logs_not_the_frames
    w = ready('logs.streams')
    h, body = w.invoke
    assert_equal %w[result "ok"], [h['type'], body]
    logs = w.wait_logs(/raw fd 1\n/)
    ["stdout write\n", "STDOUT puts\n", "print\n", "stderr puts\n", "warned\n", ":inspected\n",
     "from a subprocess\n", "subprocess stderr\n", "raw fd 1\n"].each { |l| assert_includes logs, l }
  end

  def test_loggers
    w = ready('logs.loggers')
    _, body = w.invoke('{}', id: 'req-42')
    pid = w.pid
    lines = w.logs.lines
    # logger_patch.rb:48-52 + lambda_log_formatter.rb:6-21: "%<sev>s, [%<datetime>s #%<process>d]
    # %<severity>5s %<request_id>s -- %<progname>s: %<msg>s"
    assert_match(/\AI, \[#{TIME} ##{pid}\]  INFO  -- : logged at init\n\z/, lines[0], 'no request id yet')
    assert_match(/\AI, \[#{TIME} ##{pid}\]  INFO req-42 -- : to stdout\n\z/, lines[1])
    assert_match(/\AE, \[#{TIME} ##{pid}\] ERROR req-42 -- : to stderr\n\z/, lines[2])
    assert_match(/\AW, \[#{TIME} ##{pid}\]  WARN req-42 -- prog: with progname\n\z/, lines[3])
    assert_match(/\AD, \[#{TIME} ##{pid}\] DEBUG req-42 -- : multi\n\z/, lines[4])
    assert_equal "line\n", lines[5]
    assert_match(/\AI, \[#{TIME} ##{pid}\]  INFO req-42 -- : init logger at invoke\n\z/, lines[6])
    assert_equal "CUSTOM INFO custom formatter\n", lines[7], 'a given formatter wins (3.1.1, logger_patch.rb:51)'
    assert_match(/\AE, \[#{TIME} ##{pid}\] ERROR req-42 -- : logged exception \(ArgumentError\)\n\z/, lines[8])
    refute_includes w.logs, 'suppressed by the given level'
    # A Logger on another device is not patched: Ruby's own format, no request id.
    assert_match(/\A"I, \[#{TIME} ##{pid}\]  INFO -- : to a StringIO\\n"\z/, body)
  end

  def test_json_log_format_and_level
    w = ready('logs.loggers', env: { 'AWS_LAMBDA_LOG_FORMAT' => 'json', 'AWS_LAMBDA_LOG_LEVEL' => 'warn' })
    _, body = w.invoke('{}', id: 'req-j')
    records = w.logs.lines.map { |l| JSON.parse(l) }
    # lambda_log_formatter.rb:23-46; AWS_LAMBDA_LOG_LEVEL applies unless a level is given
    # (logger_patch.rb:52): every INFO and DEBUG record is gone, the custom formatter's too.
    assert_equal [['ERROR', 'to stderr'], ['WARN', 'with progname'], ['ERROR', 'logged exception']],
                 records.map { |r| [r['level'], r['message']] }
    first = records[0]
    assert_equal %w[timestamp level message requestId], first.keys
    assert_match(/\A#{TIME}Z\z/, first['timestamp'])
    assert_equal 'req-j', first['requestId']
    assert_equal 'prog', records[1]['logger']
    ex = records[2]
    assert_equal 'ArgumentError', ex['errorType']
    assert_equal 'logged exception', ex['errorMessage']
    assert_kind_of Array, ex['stackTrace']
    assert_match(/\A#{Regexp.escape(fixture('logs.rb'))}:(Object#)?loggers:\d+\z/, ex['location'])
    assert_match(/INFO -- : to a StringIO/, body)
  end

  def test_custom_formatter_line_is_not_json
    w = ready('logs.loggers', env: { 'AWS_LAMBDA_LOG_FORMAT' => 'JSON' })
    w.invoke
    assert_includes w.logs.lines, "CUSTOM INFO custom formatter\n"
  end

  def test_the_telemetry_sink_writes_to_stdout
    w = ready('logs.sink')
    w.invoke
    assert_equal "through the sink\n", invoke_logs(w)
  end

  def test_lots_of_output_never_corrupts_frames
    Dir.mktmpdir do |dir|
      File.write(File.join(dir, 'noisy.rb'), <<~RUBY)
        def handler(event:, context:)
          t = Thread.new { 200.times { |i| $stderr.write("thread \#{i}\\n") } }
          500.times { |i| puts "line \#{i} " + ('x' * 100) }
          system('for i in 1 2 3; do echo sub$i; done')
          t.join
          { n: event['n'], big: 'y' * 100_000 }
        end
      RUBY
      w = ready('noisy.handler', cwd: dir)
      5.times do |n|
        h, body = w.invoke({ 'n' => n }, id: "n#{n}")
        assert_equal ["result", "n#{n}"], [h['type'], h['id']]
        assert_equal n, json(body)['n']
      end
      w.wait_logs(/sub3/)
      assert_equal 5 * 500, w.logs.scan(/^line \d+ x+$/).size
    end
  end
end
