// The error a contender's start() throws when it finds, only by trying, that it cannot run here
// (the gateway build lacks a store it needs, say). The run skips it and reports the reason.

export class ContenderUnavailable extends Error {
  name = 'ContenderUnavailable';
}
