# frozen_string_literal: true

# The same handlers and invocations through the real aws_lambda_ric (v3, see peer.rb) and through
# the shim; every body, content type, error type and log record must be the same, but for the
# differences the README lists (the peer's own frames in stack traces, addresses, timestamps).
# Skipped unless the peer is installed or FERRIC_RUBY_PEER_LIB names its lib/ directory.
require_relative 'harness'
require_relative 'peer'

class DifferentialTest < Minitest::Test
  include RubyShim::Helpers

  def setup
    skip 'aws_lambda_ric v3 not available: install the gem or set FERRIC_RUBY_PEER_LIB' unless RubyShim::Peer.available?
  end

  def events(*bodies, **fields)
    now = Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
    bodies.each_with_index.map { |b, i| { id: "id-#{i}", deadline_ms: now + 60_000, body: b }.merge(fields) }
  end

  def normalize(text)
    text.to_s
        .gsub(/0x\h+/, '0xADDR')
        .gsub(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z?/, 'TIME')
        .gsub(/ #\d+\]/, ' #PID]')
  end

  # A stack frame of the runtime: the peer's lib/ or the shim.
  def runtime_frame?(frame)
    frame == '-e' || frame.start_with?(RubyShim::Peer.lib, RubyShim::Peer.lib.sub(%r{/lib\z}, '/bin'), '/ferric/ruby/', '-e:')
  end

  def user_frames(error)
    error.merge('stackTrace' => error['stackTrace'].take_while { |f| !runtime_frame?(f) })
  end

  # Log text without the runtime's stack frames (and the commas and blank lines around them).
  def log_text(text)
    normalize(text).lines.reject { |l| runtime_frame?(l.strip.delete_prefix('"')) || l.strip.empty? }
                   .map { |l| json_record(l) || l.sub(/,\n\z/, "\n") }.join
  end

  # A JSON log record with the runtime's frames taken out of its stackTrace.
  def json_record(line)
    return nil unless line.start_with?('{')

    record = JSON.parse(line)
    record['stackTrace'] = record['stackTrace'].reject { |f| runtime_frame?(f) } if record['stackTrace']
    "#{JSON.generate(record)}\n"
  rescue JSON::ParserError
    nil
  end

  # Run both; compare. Returns [peer run, shim answers].
  def compare(handler, evs, cwd: RubyShim::APP, env: {})
    peer = RubyShim::Peer.run(handler, evs, cwd: cwd, env: env)
    w = start(handler, cwd: cwd, env: env)
    first = w.frame
    answers = []
    if first[0]['type'] == 'init_error'
      answers << first
    else
      evs.each do |ev|
        w.send_frame({ 'type' => 'invoke', 'id' => ev[:id], 'deadline_ms' => ev[:deadline_ms],
                       'arn' => 'arn:aws:lambda:us-east-1:123456789012:function:test-fn',
                       'trace_id' => ev[:trace_id], 'client_context' => ev[:client_context],
                       'cognito_identity' => ev[:cognito_identity], 'tenant_id' => ev[:tenant_id],
                       'content_type' => ev[:content_type] || 'application/json' }, ev[:body])
        f = w.read_frame
        break if f.nil?

        answers << f
      rescue Errno::EPIPE
        break # the worker exited after a critical error, as the peer does
      end
      w.close_input
    end
    shim_status = w.wait.exitstatus
    assert_equal peer.posts.size, answers.size, "posts: #{peer.posts.map(&:path)}\n#{peer.output}"
    peer.posts.zip(answers).each do |post, (h, payload)|
      if post.path.end_with?('/response')
        assert_equal 'result', h['type']
        assert_equal normalize(post.body), normalize(payload), handler
        assert_equal post.content_type, h['content_type'], handler
      else
        assert_equal(post.path.end_with?('/init/error') ? 'init_error' : 'error', h['type'])
        assert_equal post.error_type, h['error_type'], handler
        pe = JSON.parse(post.body)
        se = JSON.parse(payload)
        assert_equal normalize(JSON.generate(user_frames(pe))), normalize(JSON.generate(se)), handler
        if post.xray_cause && h['xray_cause']
          pc = JSON.parse(post.xray_cause)
          sc = JSON.parse(h['xray_cause'])
          pc['exceptions'][0]['stack'].reject! { |f| runtime_frame?(f['path']) }
          assert_equal normalize(JSON.generate(pc)), normalize(JSON.generate(sc)), handler
        end
      end
    end
    # The peer's loop ends with an init error about the fake API going away when it is not
    # stopped first; only what came before is compared.
    records = peer.records.take_while { |r| r != "Init error when loading handler \n" || peer.posts.any? { |p| p.path.end_with?('/init/error') } }
    # A peer that exited by itself wrote its last words (at_exit hooks) to stdout.
    peer_logs = records.join + (peer.status ? peer.output : '')
    assert_equal log_text(peer_logs), log_text(w.logs), handler
    assert_equal peer.status.exitstatus, shim_status, handler if peer.status
    [peer, answers]
  end

  def test_results
    %w[core.ping core.string core.nothing core.object core.unicode core.counter].each do |h|
      compare(h, events('{"msg":"m"}', '{"msg":"n"}'))
    end
    compare('core.echo', events(%({"a":[1.5,null,true,"\\u00e9/\\u2028"],"b":{"c":"\\n"}}), "{\n  \"pretty\": 1\n}\n"))
    compare('core.HandlerClass.ping', events('{"msg":"x"}'))
    compare('core.DeepModule::Handler.ping', events('{"msg":"x"}'))
    compare('core.io_echo', events("raw\x00\xff bytes", content_type: 'application/octet-stream'))
    compare('core.raw_event', events('{"a":1}', content_type: 'text/plain'))
  end

  def test_context
    cc = JSON.generate('custom' => { 'a' => '1' }, 'w3c' => { 'baggage' => 'b=1', 'x' => 2 })
    peer, answers = compare('core.trace', events('{}', trace_id: 'Root=1-abc'))
    assert_equal 1, peer.posts.size
    assert_equal '"Root=1-abc"', answers[0][1]
    # remaining time differs by nature: compare everything else.
    evs = events('{}', client_context: cc, cognito_identity: '{"cognitoIdentityId":"i"}', tenant_id: 'blue')
    peer = RubyShim::Peer.run('core.context_fields', evs, cwd: RubyShim::APP)
    w = ready('core.context_fields')
    _, body = w.invoke('{}', id: 'id-0', deadline_ms: evs[0][:deadline_ms], client_context: cc,
                             cognito_identity: '{"cognitoIdentityId":"i"}', tenant_id: 'blue')
    strip = ->(s) { JSON.parse(s).tap { |c| c.delete('remaining') } }
    assert_equal strip.call(peer.posts[0].body), strip.call(body)
  end

  def test_handler_errors
    %w[core.broken core.custom_error core.deep_error core.two_positional core.nan].each do |h|
      compare(h, events('{}', '{}'))
    end
    %w[core.sir_not_appearing_in_this_file core.pnig core.Does::Not::Exist.handler core.PandoraTest.handler
       core.call_missing core.hard_exit core.stack_overflow].each do |h|
      compare(h, events('{}', '{}'))
    end
  end

  def test_init_errors
    init = File.join(RubyShim::FIXTURES, 'init')
    %w[syntax_error.handler raises.handler exits.handler bad_dependency.handler name_error.handler].each do |h|
      compare(h, events('{}'), cwd: init)
    end
    %w[doesnt_exist.x invalid invalid.because.too.long].each { |h| compare(h, events('{}')) }
  end

  def test_logs
    compare('logs.puts_variants', events('{}'))
    compare('logs.loggers', events('{}', '{}'))
    compare('logs.loggers', events('{}'), env: { 'AWS_LAMBDA_LOG_FORMAT' => 'JSON', 'AWS_LAMBDA_LOG_LEVEL' => 'debug' })
    compare('logs.loggers', events('{}'), env: { 'AWS_LAMBDA_LOG_FORMAT' => 'json', 'AWS_LAMBDA_LOG_LEVEL' => 'WARN' })
    compare('logs.sink', events('{}'))
  end
end
