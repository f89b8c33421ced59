# frozen_string_literal: true

# The worker protocol (docs/PROTOCOL.md) and the start-up contract (src/shims/README.md).
require_relative 'harness'

class ProtocolTest < Minitest::Test
  include RubyShim::Helpers

  def test_ready_frame
    w = start('core.ping')
    h = w.ready
    assert_equal 1, h['protocol']
    assert_equal w.pid, h['pid']
    assert_equal "ruby #{RUBY_VERSION}", h['runtime'] if RubyShim::RUBY == RbConfig.ruby
    assert h['executable'].start_with?('/'), h['executable']
    assert File.executable?(h['executable'])
    assert_equal '', w.logs, 'aws_lambda_ric 3 prints nothing at start-up'
  end

  def test_no_warnings_from_the_shim_under_ruby_w
    w = ready('core.libraries', env: { 'RUBYOPT' => '-w' })
    h, = w.invoke
    assert_equal 'result', h['type']
    w2 = ready('logs.loggers', env: { 'RUBYOPT' => '-w' })
    w2.invoke
    assert_equal [], (w.logs + w2.logs).lines.grep(/warning/)
  end

  def test_boot_program_is_short_and_says_what_it_is
    boot = RubyShim::BOOT
    assert_operator boot.bytesize, :<=, 3 * 1024
    assert_match(/\A# ferric Ruby worker bootstrap/, boot)
    assert boot.ascii_only?, 'ruby -e reads its program in the locale encoding'
    cmdline = [RubyShim::RUBY, '-e', boot, 'core.ping'].sum { |a| a.bytesize + 1 }
    assert_operator cmdline, :<, 4096
  end

  def test_bundle_follows_the_documented_format
    index, = RubyShim::BUNDLE.split("\n\n", 2)
    lines = index.split("\n")
    assert_equal 'ferric-bundle 1', lines.shift
    assert_operator index.bytesize, :<=, 4096
    names = lines.map { |l| l.split(' ', 3)[2] }
    assert_equal names.sort, names
    assert_includes names, 'main.rb'
  end

  def test_ferric_variables_are_removed_and_no_shim_descriptor_is_inherited
    w = ready('core.environment', env: { '_LAMBDA_TELEMETRY_LOG_FD' => '9' })
    h, body = w.invoke
    assert_equal 'result', h['type']
    env = json(body)
    assert_equal [], env['ferric']
    refute env['telemetry'], 'aws_lambda_ric deletes _LAMBDA_TELEMETRY_LOG_FD (lib/aws_lambda_ric.rb:159)'
    assert_equal 'core.environment', env['handler']
    assert_equal ['core.environment'], env['argv']
    w2 = ready('core.child_fds')
    _, body = w2.invoke
    # A child process sees stdin (/dev/null), the log pipe twice, and nothing of the shim's:
    # not the bundle (fd 4), not the frame pipes. (ls's own fd 3 is the directory it lists.)
    fds = json(body)
    assert_equal [0, 1, 2, 3], fds['fds'], fds['targets']
    assert_equal '/dev/null', fds['targets']['0']
    assert_match(/\Apipe:/, fds['targets']['1']) # popen's pipe
    assert_match(/\Apipe:/, fds['targets']['2']) # the log pipe
    assert_match(%r{\A/proc/\d+/fd\z}, fds['targets']['3'])
  end

  def test_user_code_cannot_reach_the_frame_channel
    w = ready('core.write_fd3')
    h, body = w.invoke
    assert_equal 'result', h['type']
    assert_equal '"Errno::EBADF"', body
    h, = w.invoke(id: 'again')
    assert_equal 'again', h['id']
  end

  def test_a_forked_child_never_answers
    w = ready('core.forks')
    h, body = w.invoke(id: 'f1')
    assert_equal ['result', 'f1', '{"child":false}'], [h['type'], h['id'], body]
    h, = w.invoke(id: 'f2')
    assert_equal 'f2', h['id']
  end

  def test_stdin_is_dev_null_for_user_code
    w = ready('core.read_stdin')
    # Reading stdin in a handler would otherwise eat ferric's frames; here it reads nothing.
    h, body = w.invoke(id: 's1')
    assert_equal ['result', 's1', '{"stdin":"","STDIN":""}'], [h['type'], h['id'], body]
    h, = w.invoke(id: 's2')
    assert_equal 's2', h['id']
  end

  def test_unknown_header_fields_and_frame_types_are_ignored
    w = ready('core.echo')
    w.send_frame({ 'type' => 'something-new' }, 'abc')
    h, body = w.invoke({ 'b' => 2 }, id: 'x2', future_field: { 'nested' => true })
    assert_equal 'x2', h['id']
    assert_equal '{"b":2}', body
  end

  def test_payloads_with_newlines_and_every_byte_value
    w = ready('core.io_echo')
    bytes = (0..255).map(&:chr).join.b * 3 + "\n\n{}\n"
    h, body = w.invoke(bytes, id: 'bin', content_type: 'application/octet-stream')
    assert_equal 'application/unknown', h['content_type'], 'aws_lambda_marshaller.rb:28-30'
    assert_equal bytes, body
    w2 = ready('core.raw_event')
    _, body = w2.invoke(bytes, content_type: 'application/octet-stream')
    got = json(body)
    assert_equal 'String', got['class']
    assert_equal 'ASCII-8BIT', got['encoding'], 'the raw body, as Net::HTTP returns it (not all ASCII)'
    assert_equal bytes.bytes, got['bytes']
  end

  def test_pretty_printed_json_event_with_newlines
    w = ready('core.echo')
    event = "{\n  \"a\": \"line\\nbreak\",\n\n  \"b\": [1,\n 2]\n}\n"
    _, body = w.invoke(event)
    assert_equal '{"a":"line\nbreak","b":[1,2]}', body
  end

  def test_a_200_kb_client_context
    w = ready('core.client_blob')
    blob = 'x' * 200_000
    cc = JSON.generate('custom' => { 'blob' => blob }, 'env' => {}, 'client' => {})
    h, body = w.invoke(client_context: cc)
    assert_equal 'result', h['type'], w.logs
    assert_equal '{"size":200000}', body
  end

  def test_trace_id_is_set_and_removed_per_invocation
    w = ready('core.trace')
    _, body = w.invoke(trace_id: 'Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1')
    assert_equal '"Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"', body
    _, body = w.invoke(trace_id: nil)
    assert_equal 'null', body, 'removed when the invoke has none (docs/PROTOCOL.md)'
  end

  def test_shutdown_runs_at_exit_hooks_and_exits_0
    w = ready('exits.handler')
    w.invoke
    w.shutdown
    assert_equal 0, w.wait.exitstatus
    assert_includes w.logs, "at_exit ran\n"
    assert_nil w.read_frame
  end

  def test_shutdown_runs_the_users_sigterm_handler_first
    w = ready('exits.trap_term')
    w.invoke
    w.shutdown
    assert_equal 0, w.wait.exitstatus
    assert_equal "TERM handler ran\nat_exit ran\n", w.logs
  end

  def test_a_sigterm_handler_may_choose_the_exit_status
    w = ready('exits.trap_term_exit')
    w.invoke
    w.shutdown
    assert_equal 7, w.wait.exitstatus
    assert_equal "TERM handler exits 7\nat_exit ran\n", w.logs
  end

  def test_end_of_input_exits_0
    w = ready('exits.handler')
    w.close_input
    assert_equal 0, w.wait.exitstatus
    assert_includes w.logs, 'at_exit ran'
  end

  def test_sigusr2_dumps_every_threads_stack
    w = ready('core.sleeper')
    w.send_frame({ 'type' => 'invoke', 'id' => 's', 'deadline_ms' => w.now_ms + 60_000, 'len' => 2 }, '{}')
    sleep 0.3
    Process.kill('USR2', w.pid)
    logs = w.wait_logs(/in `sleep'|'Kernel#sleep'/)
    assert_includes logs, 'ferric ruby shim: SIGUSR2'
    assert_includes logs, "#{fixture('core.rb')}:"
    w.kill
  end

  # -- protocol violations from ferric: a message on stderr, exit 2, nothing on the channel

  def assert_violation(message, &block)
    w = ready('core.echo')
    block.call(w)
    assert_equal 2, w.wait.exitstatus, w.logs
    assert_match(/ferric ruby shim: protocol error: .*#{Regexp.escape(message)}/, w.logs)
    assert_nil w.read_frame
  end

  def test_violation_not_json
    assert_violation('invalid frame header') { |w| w.send_raw("not json\n") }
  end

  def test_violation_not_an_object
    assert_violation('not a JSON object') { |w| w.send_raw("[1,2]\n") }
  end

  def test_violation_no_type
    assert_violation('without a string type') { |w| w.send_raw("{\"id\":\"x\"}\n") }
  end

  def test_violation_bad_len
    assert_violation('invalid len') { |w| w.send_raw("{\"type\":\"invoke\",\"len\":-1}\n") }
  end

  def test_violation_payload_without_newline
    assert_violation('not followed by a newline') { |w| w.send_raw("{\"type\":\"x\",\"len\":2}\n{}X") }
  end

  def test_violation_truncated_payload
    assert_violation('middle of a 10-byte payload') do |w|
      w.send_raw("{\"type\":\"x\",\"len\":10}\nabc")
      w.close_input
    end
  end

  def test_violation_truncated_header
    assert_violation('middle of a frame header') do |w|
      w.send_raw('{"type":"invo')
      w.close_input
    end
  end

  def test_violation_header_too_long
    assert_violation('frame header longer than 1048576 bytes') do |w|
      w.send_raw('{"type":"x","pad":"' + ('y' * (1024 * 1024 + 10)))
    end
  end

  def test_violation_invoke_without_id
    assert_violation('without a string id') do |w|
      w.send_frame({ 'type' => 'invoke', 'deadline_ms' => 1 }, '{}')
    end
  end

  def test_violation_invoke_without_deadline
    assert_violation('integer deadline_ms') do |w|
      w.send_frame({ 'type' => 'invoke', 'id' => 'a', 'deadline_ms' => 'soon' }, '{}')
    end
  end

  def test_violation_invoke_with_a_non_string_field
    assert_violation('trace_id must be a string or null') do |w|
      w.send_frame({ 'type' => 'invoke', 'id' => 'a', 'deadline_ms' => 1, 'trace_id' => 5 }, '{}')
    end
  end

  def test_headers_up_to_one_mebibyte_are_accepted
    w = ready('core.client_blob')
    blob = 'z' * (1024 * 1024 - 400)
    h, body = w.invoke(client_context: JSON.generate('custom' => { 'blob' => blob }))
    assert_equal 'result', h['type']
    assert_equal "{\"size\":#{blob.size}}", body
  end

  def test_a_bundle_that_cannot_be_read
    w = start('core.ping', env: { 'FERRIC_SHIM_FD' => '9' })
    assert_equal 2, w.wait.exitstatus
    assert_match(/ferric ruby shim: cannot read the bundle on FERRIC_SHIM_FD/, w.logs)
  end

  def test_prepare_mode_has_nothing_to_prepare
    w = start('core.ping', env: { 'FERRIC_SHIM_PREPARE' => '1', 'FERRIC_SHIM_CACHE' => Dir.tmpdir })
    assert_equal 1, w.wait.exitstatus
    assert_nil w.read_frame
    assert_equal "ferric ruby shim: no compiled-code cache for Ruby (nothing to prepare)\n", w.logs
  end

  def test_frames_on_stdout_with_protocol_fd_1
    # The protocol's default channel: the shim keeps a private copy of fd 1 and points fd 1 at
    # the log pipe, so user output still cannot reach the frames. (ferric uses fd 3 for Ruby.)
    argv = ['sh', '-c', 'exec "$0" -e "$1" "$2" 1>&3 3>&-', RubyShim::RUBY, RubyShim::BOOT, 'logs.streams']
    w = start(nil, env: { 'FERRIC_PROTOCOL_FD' => '1', '_HANDLER' => nil }, argv: argv)
    w.ready
    h, body = w.invoke
    assert_equal %w[result "ok"], [h['type'], body]
    w.wait_logs(/raw fd 1\n/)
    assert_includes w.logs, "from a subprocess\n"
  end
end
