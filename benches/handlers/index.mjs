// Echo handler for the benchmark harness (benches/runtimes.rs): returns the event it was given.
export const handler = async (event) => event;
