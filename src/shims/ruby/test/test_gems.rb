# frozen_string_literal: true

# Handlers that require gems: installed in GEM_PATH (as in Lambda's images), or set up by
# Bundler from a Gemfile as bin/aws_lambda_ric does (`require 'bundler/setup'`, bin:7).
require_relative 'harness'
require 'open3'

class GemsTest < Minitest::Test
  include RubyShim::Helpers

  # A gem with one file, built locally (no registry involved).
  def make_gem(dir, name, version = '1.0.0')
    src = File.join(dir, 'src', name)
    FileUtils.mkdir_p(File.join(src, 'lib'))
    File.write(File.join(src, 'lib', "#{name}.rb"), "module #{name.capitalize}; VERSION = '#{version}'; end\n")
    File.write(File.join(src, "#{name}.gemspec"), <<~SPEC)
      Gem::Specification.new do |s|
        s.name = '#{name}'
        s.version = '#{version}'
        s.summary = 'test gem'
        s.authors = ['ferric']
        s.files = ['lib/#{name}.rb']
      end
    SPEC
    src
  end

  def handler_file(dir, body)
    File.write(File.join(dir, 'app.rb'), body)
  end

  def test_a_gem_in_gem_path
    Dir.mktmpdir do |dir|
      src = make_gem(dir, 'ferrictestgem')
      out, status = Open3.capture2e(RubyShim::RUBY, '-S', 'gem', 'build', 'ferrictestgem.gemspec', chdir: src)
      assert status.success?, out
      home = File.join(dir, 'vendor', 'bundle')
      out, status = Open3.capture2e({ 'GEM_HOME' => home }, RubyShim::RUBY, '-S', 'gem', 'install', '--local',
                                    '--no-document', File.join(src, 'ferrictestgem-1.0.0.gem'))
      assert status.success?, out
      handler_file(dir, "require 'ferrictestgem'\ndef handler(event:, context:)\n  Ferrictestgem::VERSION\nend\n")
      w = ready('app.handler', cwd: dir, env: { 'GEM_PATH' => home })
      _, body = w.invoke
      assert_equal '"1.0.0"', body
    end
  end

  def test_a_gemfile_with_a_path_gem
    Dir.mktmpdir do |dir|
      make_gem(dir, 'ferricbundled', '2.0.0')
      File.write(File.join(dir, 'Gemfile'), "gem 'ferricbundled', path: 'src/ferricbundled'\n")
      handler_file(dir, <<~RUBY)
        require 'ferricbundled'
        def handler(event:, context:)
          { version: Ferricbundled::VERSION, bundler: defined?(Bundler) ? 'loaded' : nil,
            minitest: (begin; require 'minitest'; 'loadable'; rescue LoadError; 'not in the bundle'; end) }
        end
      RUBY
      w = ready('app.handler', cwd: dir)
      _, body = w.invoke
      # Bundler restricts the load path to the bundle, as it does for aws_lambda_ric.
      assert_equal({ 'version' => '2.0.0', 'bundler' => 'loaded', 'minitest' => 'not in the bundle' }, json(body))
    end
  end
end
