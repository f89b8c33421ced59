# frozen_string_literal: true

# The worker: start-up, the handler's init, then one invocation per `invoke` frame, in the order
# and with the outcomes of aws_lambda_ric's LambdaRunner (lib/aws_lambda_ric.rb).
module Ferric
  load_file('frames.rb')
  load_file('libraries.rb')

  # aws_lambda_ric's exit statuses: exit(-4) after an init error (or anything escaping its
  # loop), exit(-1) after a critical handler exception, exit(-2) when a response fails to post.
  EXIT_INIT = 252
  EXIT_CRITICAL = 255
  EXIT_RUNTIME = 254

  INIT_ERROR_MESSAGE = 'Init error when loading handler ' # aws_lambda_ric never fills in the name
  HANDLER_ERROR_MESSAGE = 'Error raised from handler method'
  CRITICAL_ERROR_MESSAGE = 'Critical exception from handler'
  NO_HANDLER_MESSAGE = 'No handler specified, exiting Runtime Interface Client.'

  INVOKE_STRINGS = %w[arn trace_id client_context cognito_identity tenant_id content_type].freeze

  class << self
    def main
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      channel = Channel.setup
      ENV.delete('_LAMBDA_TELEMETRY_LOG_FD') # aws_lambda_ric consumes it; ferric owns the logs
      $stdout.sync = true
      trap_usr2
      if PREPARE
        $stderr.write("ferric ruby shim: no compiled-code cache for Ruby (nothing to prepare)\n")
        exit!(1)
      end
      spec = handler_spec
      $_global_aws_request_id = nil # read by the log formatters; set per invocation
      root = ENV['LAMBDA_TASK_ROOT'].to_s
      root = Dir.pwd if root.empty?
      Libraries.load(root)
      %w[context.rb marshal.rb errors.rb logging.rb].each { |f| load_file(f) }
      with_script_lines { load_file('handler.rb') }
      Logs.install
      if spec.nil?
        Logs.record([NO_HANDLER_MESSAGE])
        exit(0)
      end
      $LOAD_PATH.unshift(root) unless $LOAD_PATH.include?(root)
      handler = init(channel, spec)
      channel.write_frame(
        'type' => 'ready', 'protocol' => 1, 'pid' => Process.pid,
        'runtime' => "ruby #{RUBY_VERSION}", 'executable' => executable,
        'compat' => 'aws_lambda_ric 3',
        'init_ms' => ((Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1000).round
      )
      serve(channel, handler)
    end

    private

    # The last command-line argument, else _HANDLER (aws_lambda_ric 3 reads only _HANDLER).
    def handler_spec
      arg = ARGV.last.to_s
      arg.empty? ? ENV['_HANDLER'] : arg
    end

    # Keep the source lines of what is compiled in the block (Ruby >= 3.1), for error_highlight.
    def with_script_lines
      return yield unless RubyVM.respond_to?(:keep_script_lines=)

      keep = RubyVM.keep_script_lines
      RubyVM.keep_script_lines = true
      yield
    ensure
      RubyVM.keep_script_lines = keep if RubyVM.respond_to?(:keep_script_lines=)
    end

    def executable
      path = RbConfig.ruby if defined?(RbConfig)
      path && File.executable?(path) ? path : File.readlink('/proc/self/exe')
    rescue SystemCallError
      ''
    end

    # Load the handler's file. Anything it raises (LoadError, SyntaxError, NameError, a bad
    # handler string's ArgumentError, even SystemExit) is an Init<...> error.
    def init(channel, spec)
      handler = Handler.new(spec)
      handler.load
      handler
    rescue Exception => e # rubocop:disable Lint/RescueException -- as aws_lambda_ric
      report = ErrorReport.new(e, 'Init')
      Logs.log_error(report, INIT_ERROR_MESSAGE)
      channel.write_frame({ 'type' => 'init_error', 'error_type' => report.runtime_error_type }, report.body)
      exit(EXIT_INIT)
    end

    def serve(channel, handler)
      loop do
        frame = channel.read_frame
        if frame.nil?
          flush_logs
          exit(0)
        end
        header, payload = frame
        case header['type']
        when 'invoke'
          status = invoke(channel, handler, header, payload || String.new(encoding: Encoding::BINARY))
          exit(status) if status
        when 'shutdown'
          shutdown
        end
      end
    end

    # One invocation; a non-nil result is the exit status aws_lambda_ric would stop with.
    def invoke(channel, handler, header, payload)
      id = check_invoke(header)
      $_global_aws_request_id = id
      trace = header['trace_id']
      trace.nil? ? ENV.delete('_X_AMZN_TRACE_ID') : ENV['_X_AMZN_TRACE_ID'] = trace
      request = Request.new(header, payload)
      begin
        event = AwsLambda::Marshaller.marshall_request(request)
        context = LambdaContext.new(request)
      rescue Exception => e # rubocop:disable Lint/RescueException
        return crash(e)
      end
      outcome = call_handler(handler, event, context)
      answer(channel, id, *outcome)
    rescue Exception => e # rubocop:disable Lint/RescueException -- aws_lambda_ric's loop dies too
      crash(e)
    end

    # [kind, value]: [:ok, marshalled], [:error, exception] or [:critical, exception].
    def call_handler(handler, event, context)
      [:ok, handler.call(event, context)]
    rescue NameError => e
      [:critical, e]
    rescue StandardError => e
      [:error, e]
    rescue Exception => e # rubocop:disable Lint/RescueException -- SystemExit, SystemStackError...
      [:critical, e]
    end

    def answer(channel, id, kind, value)
      case kind
      when :ok
        begin
          body, content_type = value
          bytes, type = post_body(body, content_type)
        rescue StandardError => e
          send_error(channel, id, ErrorReport.new(e, 'Runtime'))
          return EXIT_RUNTIME
        end
        channel.write_frame({ 'type' => 'result', 'id' => id, 'content_type' => type }, bytes)
        nil
      when :error
        report = ErrorReport.new(value, 'Function')
        Logs.log_error(report, HANDLER_ERROR_MESSAGE)
        send_error(channel, id, report)
        nil
      else
        report = ErrorReport.new(value, 'Function')
        Logs.log_error(report, CRITICAL_ERROR_MESSAGE)
        send_error(channel, id, report)
        EXIT_CRITICAL
      end
    end

    def send_error(channel, id, report)
      fields = { 'type' => 'error', 'id' => id, 'error_type' => report.runtime_error_type }
      body = report.body
      cause = report.xray_cause
      with_cause = fields.merge('xray_cause' => cause)
      # aws_lambda_ric sends the cause when it is under 1 MiB (lambda_server.rb:66); a frame
      # header must stay under 64 KiB.
      fields = with_cause if Channel.header_size(with_cause) <= MAX_HEADER_OUT
      channel.write_frame(fields, body)
    end

    # What aws_lambda_ric does when an exception escapes its loop (a bad event or client
    # context, an error report that cannot be serialised): it reports it as an init error, which
    # the Runtime API refuses after init, and exits. ferric then reports Runtime.ExitError.
    def crash(exception)
      Logs.log_error(ErrorReport.new(exception, 'Init'), INIT_ERROR_MESSAGE)
      EXIT_INIT
    end

    def check_invoke(header)
      id = header['id']
      fatal('invoke frame without a string id') unless id.is_a?(String)
      deadline = header['deadline_ms']
      deadline = header['deadline_ms'] = deadline.to_i if deadline.is_a?(Float) && deadline.finite? && deadline == deadline.floor
      fatal('invoke frame without an integer deadline_ms') unless deadline.is_a?(Integer)
      INVOKE_STRINGS.each do |key|
        value = header[key]
        fatal("invoke frame field #{key} must be a string or null") unless value.nil? || value.is_a?(String)
      end
      id
    end

    # ferric's shutdown frame: a SIGTERM handler the user installed runs first, as when Lambda
    # sends SIGTERM; then exit 0, which runs at_exit hooks.
    def shutdown
      previous = Signal.trap('TERM', 'DEFAULT')
      Signal.trap('TERM', previous)
      Process.kill('TERM', Process.pid) if previous.is_a?(Proc)
      flush_logs
      exit(0)
    end

    # ferric sends SIGUSR2 just before killing a worker that ran past its deadline: put every
    # thread's stack in the logs.
    def trap_usr2
      Signal.trap('USR2') do
        lines = ["ferric ruby shim: SIGUSR2, the stacks of #{Thread.list.size} thread(s):"]
        Thread.list.each do |t|
          lines << "#{t.inspect}#{t == Thread.main ? ' (main)' : ''}"
          (t.backtrace || []).each { |l| lines << "    #{l}" }
        end
        $stderr.write(lines.join("\n") << "\n")
      end
    rescue ArgumentError
      nil
    end
  end

  main
end
