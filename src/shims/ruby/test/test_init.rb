# frozen_string_literal: true

# Loading the handler, and every kind of init error, as aws_lambda_ric reports them.
# Peer sources cited as FILE:LINE are aws/aws-lambda-ruby-runtime-interface-client lib/ (see README).
require_relative 'harness'

class InitTest < Minitest::Test
  include RubyShim::Helpers

  INVALID = 'must be of form FILENAME.METHOD or FILENAME.CLASS.METHOD where FILENAME corresponds with an ' \
            'existing Ruby source file FILENAME.rb, CLASS is an optional module/class namespace and METHOD ' \
            'is a callable method. If using CLASS, METHOD must be a class-level method.'

  # An init error: logged as "Init error when loading handler " (aws_lambda_ric.rb:112, the
  # handler name is never set) and the pretty JSON (lambda_logger.rb:7), then an init_error
  # frame whose payload is the body posted to /init/error (lambda_server.rb:80-83: to_json, so
  # no spaces), then exit(-4) = 252 (aws_lambda_ric.rb:52,58).
  def init_error(handler, **opts)
    w = start(handler, **opts)
    h, body = w.frame
    assert_equal 'init_error', h['type'], w.logs
    assert_equal 252, w.wait.exitstatus
    assert_nil w.read_frame
    parsed = json(body)
    assert_equal %w[errorMessage errorType stackTrace], parsed.keys, 'lambda_errors.rb:27-31'
    assert_equal JSON.generate(parsed), body
    assert_equal "Init error when loading handler \n#{JSON.pretty_generate(parsed)}\n", w.logs[0, w.logs.index("}\n") + 2]
    parsed['stackTrace'].each { |f| refute_match(%r{/ferric/ruby/|\A-e:}, f) }
    [h, parsed, w]
  end

  def test_missing_file
    h, err, = init_error('doesnt_exist.doesnt_matter')
    assert_equal 'Init<LoadError>', h['error_type'] # LoadError is allowed: lambda_errors.rb:64
    assert_equal 'Init<LoadError>', err['errorType'] # "#{classification}<#{class}>": lambda_errors.rb:12
    assert_equal 'cannot load such file -- doesnt_exist', err['errorMessage']
  end

  def test_syntax_error
    h, err, = init_error('syntax_error.handler', task_root: RubyShim::FIXTURES + '/init')
    assert_equal 'Init<SyntaxError>', err['errorType']
    # SyntaxError is not on the allow-list: the header says Function<UserException> (lambda_errors.rb:18-24).
    assert_equal 'Function<UserException>', h['error_type']
    assert_includes err['errorMessage'], File.join(RubyShim::FIXTURES, 'init', 'syntax_error.rb')
  end

  def test_bad_handler_strings
    # split('.') must give 2 or 3 parts (lambda_handler.rb:10-17); the message shows the parts.
    { 'invalid' => '["invalid"]', 'invalid.because.too.long' => '["invalid", "because", "too", "long"]' }.each do |spec, parts|
      h, err, = init_error(spec)
      assert_equal 'Init<ArgumentError>', h['error_type']
      assert_equal 'Init<ArgumentError>', err['errorType']
      assert_equal "Invalid handler #{parts}, #{INVALID}", err['errorMessage']
      assert_equal [], err['stackTrace'], 'only shim frames: none are the user\'s'
    end
  end

  def test_empty_handler_variable
    _, err, = init_error(nil, env: { '_HANDLER' => '' })
    assert_equal "Invalid handler [], #{INVALID}", err['errorMessage']
  end

  def test_exception_at_load
    h, err, = init_error('raises.handler', task_root: RubyShim::FIXTURES + '/init')
    assert_equal 'Init<ConfigError>', err['errorType']
    assert_equal 'Function<UserException>', h['error_type']
    assert_equal 'missing configuration', err['errorMessage']
    assert_equal "#{RubyShim::FIXTURES}/init/raises.rb:2:in `<top (required)>'", err['stackTrace'].first.sub(/'(<top \(required\)>)'/, "`\\1'")
  end

  def test_exit_at_load_is_an_init_error_and_runs_at_exit_hooks
    h, err, w = init_error('exits.handler', task_root: RubyShim::FIXTURES + '/init')
    assert_equal 'Init<SystemExit>', h['error_type'] # SystemExit is allowed: lambda_errors.rb:64
    assert_equal 'exit', err['errorMessage']
    assert w.logs.end_with?("}\ninit at_exit ran\n"), w.logs
  end

  def test_missing_dependency
    _, err, = init_error('bad_dependency.handler', task_root: RubyShim::FIXTURES + '/init')
    assert_equal 'Init<LoadError>', err['errorType']
    assert_equal 'cannot load such file -- a_gem_that_is_not_installed', err['errorMessage']
    assert(err['stackTrace'].any? { |f| f.start_with?("#{RubyShim::FIXTURES}/init/bad_dependency.rb:1:") })
  end

  def test_name_error_at_load
    h, err, = init_error('name_error.handler', task_root: RubyShim::FIXTURES + '/init')
    assert_equal 'Init<NameError>', h['error_type']
    assert err['errorMessage'].start_with?('uninitialized constant UndefinedConstantAtLoad'), err['errorMessage']
  end

  def test_no_handler_at_all
    # aws_lambda_ric.rb:214-217: a message, exit 0 (ferric reports Runtime.ExitError).
    w = start(nil)
    assert_equal 0, w.wait.exitstatus
    assert_nil w.read_frame
    assert_equal "No handler specified, exiting Runtime Interface Client.\n", w.logs
  end

  def test_missing_method_or_class_is_not_an_init_error
    # aws_lambda_ric only requires the file at init (aws_lambda_ric.rb:47-48); the method is looked
    # up per invocation.
    ready('core.sir_not_appearing_in_this_file')
    ready('core.Does::Not::Exist.handler')
  end

  def test_nested_directories
    w = ready('nested/dir/deep.handler')
    _, body = w.invoke
    assert_equal({ 'from' => fixture('nested/dir/deep.rb') }, json(body))
  end

  def test_the_task_root_is_searched_first_whatever_the_working_directory
    # $LOAD_PATH.unshift(app_root) (aws_lambda_ric.rb:44); the task root is LAMBDA_TASK_ROOT.
    w = ready('init/ok.handler', cwd: '/', task_root: RubyShim::FIXTURES)
    _, body = w.invoke
    assert_equal '"ok"', body
  end

  def test_handler_from_the_environment_when_no_argument
    w = ready(nil, env: { '_HANDLER' => 'core.string' })
    _, body = w.invoke({ 'msg' => 'env' })
    assert_equal %("Message: 'env'"), body
  end

  def test_a_gemfile_is_set_up_with_bundler_first
    Dir.mktmpdir do |dir|
      File.write(File.join(dir, 'Gemfile'), "gem 'definitely_not_installed_gem_xyz'\n")
      File.write(File.join(dir, 'app.rb'), "def handler(event:, context:) = 'never'\n")
      # bin/aws_lambda_ric: `require 'bundler/setup'` before anything; a missing gem ends the
      # process before init (ferric then reports Runtime.ExitError with these lines).
      w = start('app.handler', cwd: dir)
      refute_equal 0, w.wait.exitstatus
      assert_nil w.read_frame
      assert_match(/definitely_not_installed_gem_xyz/, w.logs)
    end
  end
end
