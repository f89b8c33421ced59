# Echo handler for the benchmark harness (benches/runtimes.rs): returns the event it was given.
def handler(event:, context:)
  event
end
