# frozen_string_literal: true

# The object top-level handler methods are called on, under aws_lambda_ric's class name and
# with its instance variables (lambda_handler.rb:9-18): they run with `self` a LambdaHandler made
# once at start-up (instance variables they set persist across invocations), and a missing
# method reads "undefined method `x' for #<LambdaHandler:0x... @handler_file_name=...>".
class LambdaHandler
end

module Ferric
  # A handler string as aws_lambda_ric reads it (lib/aws_lambda_ric/lambda_handler.rb):
  # FILE.METHOD or FILE.CLASS.METHOD, split at every dot; FILE is `require`d through
  # $LOAD_PATH, on which the task root comes first.
  class Handler
    attr_reader :file_name, :class_name, :method_name

    def initialize(spec)
      parts = spec.split('.')
      case parts.size
      when 2 then @file_name, @method_name = parts
      when 3 then @file_name, @class_name, @method_name = parts
      else
        raise ArgumentError, "Invalid handler #{parts}, must be of form FILENAME.METHOD or FILENAME.CLASS.METHOD " \
                             'where FILENAME corresponds with an existing Ruby source file FILENAME.rb, CLASS is an ' \
                             'optional module/class namespace and METHOD is a callable method. If using CLASS, ' \
                             'METHOD must be a class-level method.'
      end
      @receiver = LambdaHandler.new
      @receiver.instance_variable_set(:@handler_file_name, @file_name)
      @receiver.instance_variable_set(:@handler_class, @class_name) if @class_name
      @receiver.instance_variable_set(:@handler_method_name, @method_name)
    end

    def load
      require @file_name
    end

    # The handler's return value, marshalled (marshalling counts as user code there too).
    def call(event, context)
      opts = { event: event, context: context }
      response = @receiver.instance_exec(opts, &(@class_name ? CALL_CLASS_METHOD : CALL_METHOD))
      AwsLambda::Marshaller.marshall_response(response)
    end

    # The call itself, run on the receiver. Ruby 3.1's error_highlight quotes the source line of
    # a NoMethodError or NameError in its message, so these two lines read exactly like the
    # peer's (lambda_handler.rb:26, 28), indentation included; main.rb compiles this file with
    # RubyVM.keep_script_lines so that the line can be found.
    CALL_CLASS_METHOD = proc do |opts|
      response = Kernel.const_get(@handler_class).send(@handler_method_name, **opts)
      response
    end
    CALL_METHOD = proc do |opts|
      response = __send__(@handler_method_name, **opts)
      response
    end
  end
end
