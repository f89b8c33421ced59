# frozen_string_literal: true

# aws_lambda_ric's error reports (lib/aws_lambda_ric/lambda_errors.rb, xray_cause.rb): the error
# JSON, the error type sent as Lambda-Runtime-Function-Error-Type, and the X-Ray cause.
module Ferric
  class ErrorReport
    # Classes whose type aws_lambda_ric reports as they are; any other gets Function<UserException>.
    ALLOWED = %w[ArgumentError NoMethodError Exception StandardError NameError LoadError
                 SystemExit SystemStackError].freeze
    MAX_FRAMES = 100
    XRAY_FRAMES = 15

    attr_reader :error_type, :error_message, :stack_trace

    # `classification` is Function (handler errors), Init (loading) or Runtime (posting).
    def initialize(exception, classification)
      @class_name = exception.class.to_s
      @error_type = "#{classification}<#{exception.class}>"
      @error_message = exception.message
      @stack_trace = Ferric.user_frames(exception.backtrace_locations)
    end

    def runtime_error_type
      ALLOWED.include?(@class_name) ? @error_type : 'Function<UserException>'
    end

    # Key order and values as posted; stackTrace holds Thread::Backtrace::Location objects,
    # which JSON renders through to_s ("/var/task/app.rb:3:in `handler'").
    def to_lambda_response
      { errorMessage: @error_message, errorType: @error_type, stackTrace: @stack_trace }
    end

    def body
      to_lambda_response.to_json
    end

    def xray_cause
      stack = @stack_trace.first(XRAY_FRAMES).map do |loc|
        { path: loc.path, line: loc.lineno, label: loc.label }
      end
      JSON.dump({
                  working_directory: Dir.pwd,
                  paths: defined?(Gem) ? Gem.paths.path : [],
                  exceptions: [{ message: @error_message, type: @error_type, stack: stack }]
                })
    end
  end

  # The frames above the runtime: aws_lambda_ric keeps the first 100 and stops at its own code
  # (lambda_errors.rb `_sanitize_stacktrace`); here the runtime is the shim (and the -e boot).
  def self.user_frames(locations)
    kept = []
    (locations || []).first(ErrorReport::MAX_FRAMES).each do |loc|
      path = loc.path.to_s
      break if path.start_with?(ROOT) || path == '-e'

      kept << loc
    end
    kept
  end
end
