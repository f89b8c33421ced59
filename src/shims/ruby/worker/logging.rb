# frozen_string_literal: true

# Logs as aws_lambda_ric writes them on Lambda, where it finds _LAMBDA_TELEMETRY_LOG_FD and
# patches Logger and Kernel#puts (lib/aws_lambda_ric.rb TelemetryLogger, logger_patch.rb,
# lambda_log_formatter.rb, lambda_logger.rb). ferric owns no telemetry descriptor: every record
# is written, with one write call, to $stdout (fd 1, ferric's log pipe), which is what
# aws_lambda_ric's TelemetryLogSink#write itself does when it has no telemetry file.
module AwsLambdaRIC
  # aws_lambda_ric's holder of the telemetry sink; some logging setups read it.
  class TelemetryLogger
    class << self
      attr_accessor :telemetry_log_fd_file, :telemetry_log_sink
    end
  end
end

module Ferric
  module Logs
    LEVELS = {
      'TRACE' => Logger::DEBUG, 'DEBUG' => Logger::DEBUG, 'INFO' => Logger::INFO,
      'WARN' => Logger::WARN, 'ERROR' => Logger::ERROR, 'FATAL' => Logger::FATAL
    }.freeze

    class << self
      attr_reader :level

      def json?
        @json
      end

      # Read the log settings (once, at start-up, as aws_lambda_ric does when it loads) and
      # patch Logger and Kernel#puts.
      def install
        @json = ENV.fetch('AWS_LAMBDA_LOG_FORMAT', '').upcase == 'JSON'
        @level = LEVELS[ENV['AWS_LAMBDA_LOG_LEVEL']&.upcase]
        AwsLambdaRIC::TelemetryLogger.telemetry_log_sink = Sink.new
        ::Logger.prepend(LoggerPatch)
        verbose = $VERBOSE
        $VERBOSE = nil # replacing Kernel#puts on purpose: no "method redefined" under -w
        ::Kernel.module_eval do
          # Public, as aws_lambda_ric's module_eval'd replacement is.
          def puts(*args)
            Ferric::Logs.record(args)
            nil
          end
        end
      ensure
        $VERBOSE = verbose
      end

      # One log record for `puts(*args)`: arguments flattened, each as UTF-8 text, joined by
      # newlines, ending in exactly the newline puts would add. (aws_lambda_ric raises on
      # binary strings that do not convert to UTF-8; they are written as they are here.)
      def record(args)
        flat = args.flatten
        msg = begin
          flat.map { |a| a.to_s.encode(Encoding::UTF_8) }.join("\n")
        rescue EncodingError
          flat.map { |a| a.to_s.b }.join("\n".b)
        end
        msg += "\n" unless msg.end_with?("\n")
        AwsLambdaRIC::TelemetryLogger.telemetry_log_sink.write(msg)
      end

      # LambdaLogger.log_error: the message line, then the error JSON, pretty-printed.
      def log_error(report, message)
        record([message])
        record([JSON.pretty_generate(report.to_lambda_response)])
      end
    end

    # TelemetryLogSink without a telemetry file: the record goes to $stdout as it is.
    class Sink < ::Logger::LogDevice
      def initialize; end # rubocop:disable Lint/MissingSuper -- no file to open

      def write(msg)
        $stdout.write(msg)
      end

      def reopen(_log = nil); end

      def close; end
    end

    # Loggers writing to $stdout, $stderr or nowhere (nil) write to the sink, formatted with
    # the request id (or as JSON under AWS_LAMBDA_LOG_FORMAT=JSON), at AWS_LAMBDA_LOG_LEVEL
    # unless a level is given. Other devices (files, StringIO) are left alone.
    module LoggerPatch
      def initialize(logdev, shift_age = 0, shift_size = 1_048_576, **kwargs)
        level_given = kwargs.key?(:level)
        kwargs = { level: ::Logger::DEBUG, progname: nil, formatter: nil, datetime_format: nil,
                   binmode: false, shift_period_suffix: '%Y%m%d' }.merge(kwargs)
        device = logdev
        if !logdev || logdev == $stdout || logdev == $stderr
          device = AwsLambdaRIC::TelemetryLogger.telemetry_log_sink || logdev
          kwargs[:formatter] ||= Logs.json? ? JsonFormatter.new : TextFormatter.new
          kwargs[:level] = Logs.level if !level_given && Logs.level
        end
        super(device, shift_age, shift_size, **kwargs)
      end
    end

    # "I, [2026-01-01T00:00:00.123456 #42]  INFO <request id> -- progname: message"
    class TextFormatter < ::Logger::Formatter
      LINE = '%<sev>s, [%<datetime>s #%<process>d] %<severity>5s %<request_id>s -- %<progname>s: %<msg>s'

      def call(severity, time, progname, msg)
        line = format(LINE, sev: severity[0..0], datetime: format_datetime(time), process: $$,
                            severity: severity, request_id: $_global_aws_request_id,
                            progname: progname, msg: msg2str(msg))
        "#{line.encode('UTF-8', invalid: :replace, undef: :replace, replace: "\uFFFD")}\n"
      end
    end

    # One JSON object per record: timestamp, level, message, requestId[, logger][, error fields].
    class JsonFormatter < ::Logger::Formatter
      TIME = '%Y-%m-%dT%H:%M:%S.%6NZ'

      def call(severity, time, progname, msg)
        record = {
          timestamp: time.utc.strftime(TIME),
          level: severity,
          message: clean(msg.is_a?(Exception) ? msg.message : msg2str(msg)),
          requestId: $_global_aws_request_id
        }
        name = progname.nil? ? nil : clean(progname)
        record[:logger] = name unless name.nil? || name.empty?
        if msg.is_a?(Exception)
          record[:errorType] = msg.class.to_s
          record[:errorMessage] = clean(msg.message)
          record[:stackTrace] = Array(msg.backtrace).map { |l| clean(l) }
          where = location(msg)
          record[:location] = where unless where.nil?
        end
        "#{JSON.generate(record.compact)}\n"
      end

      private

      # "file:method:line" from the first backtrace line, or that line as it is.
      def location(exception)
        first = exception.backtrace&.first
        return nil if first.nil?

        line = clean(first)
        m = line.match(/\A(.+):(\d+):in [`'](.+)'\z/)
        m ? "#{m[1]}:#{m[3]}:#{m[2]}" : line
      end

      def clean(value)
        value.to_s.encode('UTF-8', invalid: :replace, undef: :replace, replace: "\uFFFD")
      end
    end
  end
end
