# frozen_string_literal: true

# Start-up and memory of the Ruby shim, measured as ferric starts it (not a test):
#   ruby src/shims/ruby/test/measure.rb [RUNS] [HANDLER] [-- extra ruby flags...]
# Prints the median, min and max time from spawn to the ready frame, the idle RSS after
# ready and after one invocation, and the same for `ruby -e 0` for comparison.
require_relative 'harness'

runs = (ARGV[0] || 21).to_i
handler = ARGV[1] || 'core.ping'
flags = ARGV.include?('--') ? ARGV[(ARGV.index('--') + 1)..] : []

def rss_kb(pid)
  File.read("/proc/#{pid}/status")[/^VmRSS:\s+(\d+)/, 1].to_i
end

def stats(values)
  s = values.sort
  { median: s[s.size / 2], min: s.first, max: s.last }
end

def cpu_ms(pid)
  File.read("/proc/#{pid}/schedstat").split.first.to_i / 1e6
end

times = []
cpu = []
init = []
idle = []
after = []
runs.times do
  argv = [RubyShim::RUBY, *flags, '-e', RubyShim::BOOT, handler]
  w = RubyShim::Worker.new(handler, argv: argv)
  ready = w.ready
  times << w.startup_seconds * 1000
  cpu << cpu_ms(w.pid)
  init << ready['init_ms']
  sleep 0.05
  idle << rss_kb(w.pid)
  w.invoke({ 'msg' => 'x' })
  after << rss_kb(w.pid)
  w.shutdown
  w.wait
  w.close
end

base = []
base_cpu = []
runs.times do
  t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  out = IO.popen([RubyShim::RUBY, *flags, '-e', 'print File.read("/proc/self/schedstat")'], &:read)
  base << (Process.clock_gettime(Process::CLOCK_MONOTONIC) - t) * 1000
  base_cpu << out.split.first.to_i / 1e6
end

fmt = ->(h, unit) { format("median %.1f %s (min %.1f, max %.1f)", h[:median], unit, h[:min], h[:max]) }
puts "ruby #{RUBY_VERSION}, #{runs} runs, handler #{handler}#{flags.empty? ? '' : ", flags #{flags.join(' ')}"}"
puts "spawn -> ready:        #{fmt.call(stats(times), 'ms')}"
puts "  CPU used until ready: #{fmt.call(stats(cpu), 'ms')}"
puts "  init_ms (shim main to ready, from the ready frame): #{fmt.call(stats(init), 'ms')}"
puts "bare ruby #{flags.join(' ')} -e (spawn to exit): #{fmt.call(stats(base), 'ms')}"
puts "  CPU used by bare ruby: #{fmt.call(stats(base_cpu), 'ms')}"
puts "RSS idle after ready:  #{fmt.call(stats(idle.map { |k| k / 1024.0 }), 'MiB')}"
puts "RSS after 1 invoke:    #{fmt.call(stats(after.map { |k| k / 1024.0 }), 'MiB')}"
puts "load average: #{File.read('/proc/loadavg').split.first(3).join(' ')}"
