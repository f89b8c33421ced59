# frozen_string_literal: true

# Test harness: starts the Ruby shim exactly as ferric does,
#   ruby -e <boot.rb> HANDLER
# with fd 0 = frames from the test (a pipe), fds 1 and 2 = one log pipe, fd 3 = frames to the
# test (a pipe, FERRIC_PROTOCOL_FD=3) and fd 4 = the bundle (FERRIC_SHIM_FD=4) built from
# worker/ per src/shims/README.md, in a clean environment. The frame reader is strict:
# anything on fd 3 that is not a well-formed frame fails the test that reads it.

require 'io/wait'
require 'json'
require 'tmpdir'
require 'fileutils'
require 'minitest'

module RubyShim
  SHIM_DIR = File.expand_path('..', __dir__)
  WORKER_DIR = File.join(SHIM_DIR, 'worker')
  BOOT = File.read(File.join(SHIM_DIR, 'boot.rb'))
  FIXTURES = File.join(__dir__, 'fixtures')
  APP = File.join(FIXTURES, 'app')
  RUBY = ENV['FERRIC_TEST_RUBY'] || RbConfig.ruby
  MAX_HEADER = 64 * 1024

  # The bundle as build.rs makes it: every file under worker/ (no dot files), sorted by
  # name, behind an index whose offsets count from the start of the bundle.
  def self.bundle(dir = WORKER_DIR)
    names = Dir.glob('**/*', base: dir).reject do |n|
      File.directory?(File.join(dir, n)) || n.split('/').any? { |p| p.start_with?('.') }
    end.sort
    contents = names.map { |n| File.binread(File.join(dir, n)) }
    index_len = 0
    loop do
      index = +"ferric-bundle 1\n"
      offset = index_len
      names.zip(contents) do |n, c|
        index << "#{offset} #{c.bytesize} #{n}\n"
        offset += c.bytesize
      end
      index << "\n"
      return (index + contents.join).b if index.bytesize == index_len

      index_len = index.bytesize
    end
  end

  def self.fnv1a64(bytes)
    hash = 0xcbf29ce484222325
    bytes.each_byte { |b| hash = ((hash ^ b) * 0x100000001b3) & 0xffffffffffffffff }
    format('%016x', hash)
  end

  BUNDLE = bundle
  BUNDLE_PATH = File.join(Dir.mktmpdir('ferric-ruby-bundle-'), 'bundle')
  File.binwrite(BUNDLE_PATH, BUNDLE)
  KEY = fnv1a64(BUNDLE)

  # A Lambda-like environment, nothing from the developer's (AWS_LAMBDA_LOG_FORMAT, RUBYOPT...).
  def self.base_env(task_root)
    {
      'PATH' => ENV.fetch('PATH', '/usr/bin:/bin'),
      'HOME' => ENV.fetch('HOME', '/tmp'),
      'LANG' => 'C.UTF-8',
      'TZ' => 'UTC',
      'LAMBDA_TASK_ROOT' => task_root,
      'AWS_LAMBDA_FUNCTION_NAME' => 'test-fn',
      'AWS_LAMBDA_FUNCTION_VERSION' => '$LATEST',
      'AWS_LAMBDA_FUNCTION_MEMORY_SIZE' => '512',
      'AWS_LAMBDA_LOG_GROUP_NAME' => '/aws/lambda/test-fn',
      'AWS_LAMBDA_LOG_STREAM_NAME' => '2026/01/01/[$LATEST]abcdef',
      'AWS_REGION' => 'us-east-1',
      'FERRIC_PROTOCOL_FD' => '3',
      'FERRIC_SHIM_FD' => '4',
      'FERRIC_SHIM_KEY' => KEY,
      'FERRIC_SHIM_CACHE' => '',
      'FERRIC_SHIM_PREPARE' => ''
    }
  end

  class Violation < StandardError; end

  class Worker
    attr_reader :pid, :argv, :env

    # handler: the command-line argument (nil: none); env: extra variables (nil removes one).
    def initialize(handler, env: {}, cwd: APP, task_root: cwd, argv: nil, ruby: RUBY)
      @env = RubyShim.base_env(task_root)
      env.each { |k, v| v.nil? ? @env.delete(k) : @env[k] = v.to_s }
      @env['_HANDLER'] ||= handler if handler && !env.key?('_HANDLER')
      @argv = argv || [ruby, '-e', BOOT, *[handler].compact]
      in_r, @in = IO.pipe
      @frames, frames_w = IO.pipe
      @log_r, log_w = IO.pipe
      bundle = File.open(BUNDLE_PATH, 'rb')
      @started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      @pid = Process.spawn(@env, *@argv, unsetenv_others: true, close_others: true, chdir: cwd, pgroup: true,
                                         in: in_r, out: log_w, err: log_w, 3 => frames_w, 4 => bundle)
      [in_r, frames_w, log_w, bundle].each(&:close)
      @in.sync = true
      @frames.binmode
      @buf = String.new(encoding: Encoding::BINARY)
      @log = String.new(encoding: Encoding::BINARY)
      @log_eof = false
      @status = nil
    end

    # Everything the worker wrote to fds 1 and 2 so far. The worker writes its logs before the
    # frame that follows them, so after a frame is read they are all in the pipe: drain it.
    def logs
      drain_logs
      @log.dup.force_encoding(Encoding::UTF_8)
    end

    # Wait until the logs match `pattern` (the log pipe is read in the background).
    def wait_logs(pattern, timeout: 10)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      until logs.match?(pattern)
        raise Minitest::Assertion, "logs never matched #{pattern.inspect}:\n#{logs}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

        @log_r.wait_readable(0.05) unless @log_eof
      end
      logs
    end

    def send_raw(bytes)
      @in.write(bytes.b)
    end

    def send_frame(fields, payload = nil)
      fields = fields.merge('len' => payload.bytesize) if payload
      data = JSON.generate(fields).b + "\n"
      data << payload.b << "\n" if payload
      send_raw(data)
    end

    def close_input
      @in.close unless @in.closed?
    end

    # The next frame as [header, payload or nil]; nil at the end of the channel.
    def read_frame(timeout: 15)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      until (nl = @buf.index("\n"))
        raise Violation, "frame header over #{MAX_HEADER} bytes" if @buf.bytesize > MAX_HEADER
        return nil if fill(deadline).nil? && @buf.empty?
        raise Violation, "channel closed inside a header: #{@buf[0, 200].inspect}" if @eof
      end
      line = @buf.slice!(0, nl + 1)
      raise Violation, 'frame header over 64 KiB' if nl > MAX_HEADER

      header = JSON.parse(line.force_encoding(Encoding::UTF_8))
      raise Violation, "header is not an object: #{line}" unless header.is_a?(Hash)
      raise Violation, "header without type: #{line}" unless header['type'].is_a?(String)
      return [header, nil] unless header.key?('len')

      len = header['len']
      raise Violation, "bad len #{len.inspect}" unless len.is_a?(Integer) && len >= 0

      while @buf.bytesize < len + 1
        raise Violation, 'channel closed inside a payload' if fill(deadline).nil?
      end
      payload = @buf.slice!(0, len)
      raise Violation, 'payload not followed by a newline' unless @buf.slice!(0, 1) == "\n"

      [header, payload]
    rescue JSON::ParserError => e
      raise Violation, "frame header is not JSON: #{e.message}"
    end

    # The next frame, which must exist.
    def frame(timeout: 15)
      f = read_frame(timeout: timeout)
      raise Minitest::Assertion, "no frame; the worker's logs:\n#{logs}" if f.nil?

      f
    end

    def ready
      header, = frame
      raise Minitest::Assertion, "first frame is not ready: #{header}\n#{logs}" unless header['type'] == 'ready'

      @ready_at = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      header
    end

    def startup_seconds
      @ready_at - @started
    end

    # Send an invoke frame and return the answer [header, payload].
    def invoke(event = '{}', id: "req-#{rand(1 << 30)}", deadline_ms: now_ms + 60_000,
               arn: 'arn:aws:lambda:us-east-1:123456789012:function:test-fn', trace_id: nil,
               client_context: nil, cognito_identity: nil, tenant_id: nil,
               content_type: 'application/json', **extra)
      event = JSON.generate(event) unless event.is_a?(String)
      send_frame({ 'type' => 'invoke', 'id' => id, 'deadline_ms' => deadline_ms, 'arn' => arn,
                   'trace_id' => trace_id, 'client_context' => client_context,
                   'cognito_identity' => cognito_identity, 'tenant_id' => tenant_id,
                   'content_type' => content_type }.merge(extra), event)
      frame
    end

    def shutdown
      send_frame('type' => 'shutdown')
    end

    def wait(timeout: 15)
      return @status if @status

      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      loop do
        _, status = Process.waitpid2(@pid, Process::WNOHANG)
        if status
          @status = status
          drain_logs until @log_eof || @log_r.closed? || !@log_r.wait_readable(2)
          drain_logs
          return status
        end
        drain_logs
        if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          kill
          raise Minitest::Assertion, "worker did not exit; logs:\n#{logs}"
        end
        sleep 0.01
      end
    end

    def kill
      Process.kill('KILL', -@pid)
    rescue Errno::ESRCH
      nil
    end

    # Stop a worker a test left running.
    def close
      close_input
      wait(timeout: 5) unless @status
    rescue Minitest::Assertion
      nil
    ensure
      [@frames, @log_r].each { |io| io.close unless io.closed? }
    end

    def now_ms
      Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
    end

    private

    def fill(deadline)
      return nil if @eof

      left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
      raise Minitest::Assertion, "timed out waiting for a frame; logs:\n#{logs}" if left <= 0
      ready, = IO.select([@frames, *(@log_eof ? [] : [@log_r])], nil, nil, [left, 0.2].min)
      drain_logs
      return :again unless ready&.include?(@frames)

      @buf << @frames.readpartial(1 << 20)
      :ok
    rescue EOFError
      @eof = true
      nil
    end

    # Read whatever the log pipe holds, without blocking (the worker must never block on it).
    def drain_logs
      return if @log_eof || @log_r.closed?

      loop { @log << @log_r.read_nonblock(1 << 16) }
    rescue IO::WaitReadable
      nil
    rescue EOFError
      @log_eof = true
    end
  end

  # Helpers shared by the test classes.
  module Helpers
    def start(handler, **opts)
      w = Worker.new(handler, **opts)
      (@workers ||= []) << w
      w
    end

    def teardown
      (@workers || []).each(&:close)
      super
    end

    # A worker that loaded `handler` and said ready.
    def ready(handler, **opts)
      w = start(handler, **opts)
      w.ready
      w
    end

    def json(bytes)
      JSON.parse(bytes)
    end

    # Handler's frame path in stack traces.
    def fixture(name)
      File.join(APP, name)
    end
  end
end
