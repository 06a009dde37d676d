// A plain webhook-to-SSE relay, the intake bench's comparison (see benches/intake.rs).
//
// smee.io's server (github.com/probot/smee.io) is not published on npm, so the bench runs
// this instead, built the way that server is: Fastify with its JSON body parser, an
// in-process EventEmitter as the bus, and Server-Sent Events to every subscriber of the
// channel. A POST to /:channel is parsed and handed to the subscribers (headers, body,
// query and a timestamp, serialised per subscriber), then answered 200. Nothing is
// verified and nothing is stored: an event sent while nobody listens is gone.
// Request logging is off (smee.io logs each request), which only helps this side.
//
// Prints `listening <port>` on stdout once it accepts connections on 127.0.0.1.

import { EventEmitter } from 'node:events'
import Fastify from 'fastify'

const fastify = Fastify({ logger: false, bodyLimit: 4 * 1024 * 1024 })
const bus = new EventEmitter()
bus.setMaxListeners(0)

fastify.get('/:channel', (request, reply) => {
  const { channel } = request.params
  if (request.headers.accept !== 'text/event-stream') {
    return reply.status(406).send('subscribe with Accept: text/event-stream')
  }
  let id = 0
  reply.raw.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive'
  })
  const send = (payload) => {
    reply.raw.write(`id: ${id++}\ndata: ${JSON.stringify(payload)}\n\n`)
  }
  bus.on(channel, send)
  reply.raw.on('close', () => bus.removeListener(channel, send))
  reply.raw.write(`id: ${id++}\nevent: ready\ndata: {}\n\n`)
  reply.hijack()
})

fastify.post('/:channel', async (request, reply) => {
  bus.emit(request.params.channel, {
    ...request.headers,
    body: request.body,
    query: request.query,
    timestamp: Date.now()
  })
  return reply.status(200).send()
})

const address = await fastify.listen({ port: 0, host: '127.0.0.1' })
console.log(`listening ${new URL(address).port}`)
