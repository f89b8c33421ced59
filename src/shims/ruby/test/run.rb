# frozen_string_literal: true

# Runs every Ruby shim test:  ruby src/shims/ruby/test/run.rb  (from anywhere)
# FERRIC_TEST_RUBY=/path/to/ruby runs the workers under another interpreter.
$LOAD_PATH.unshift(__dir__)
require 'minitest/autorun'
Dir.glob(File.join(__dir__, 'test_*.rb')).sort.each { |f| require f }
