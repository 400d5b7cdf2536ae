// Package tiktokclient delivers events to the TikTok Events API 2.0 and says precisely
// what happened to each one. It knows nothing of NATS.
package tiktokclient
