// An API Gateway proxy handler for Node.js, as written for aws-lambda-ric: it runs unchanged
// behind ferric. Works with REST API (v1) and HTTP API (v2) events and with plain JSON events.

const GREETING = process.env.GREETING ?? 'Hello';

function nameFrom(event) {
  if (!event || typeof event !== 'object') return undefined;
  const fromQuery = event.queryStringParameters?.name;
  if (fromQuery) return fromQuery;
  if (event.body) {
    try {
      const parsed = JSON.parse(event.body);
      if (parsed?.name) return parsed.name;
    } catch {
      // not a JSON body: fall through
    }
  }
  return event.name;
}

export const handler = async (event, context) => {
  const name = nameFrom(event) ?? 'world';
  const method = event?.httpMethod ?? event?.requestContext?.http?.method ?? null;
  const path = event?.path ?? event?.rawPath ?? null;
  console.log(`greeting ${name} (${method} ${path})`);
  return {
    statusCode: 200,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      message: `${GREETING}, ${name}!`,
      method,
      path,
      requestId: context.awsRequestId,
      functionName: context.functionName,
      remainingMs: context.getRemainingTimeInMillis(),
    }),
  };
};
