// Package testport hands tests loopback ports for the servers they start.
//
// The ports come from below the kernel's range of ephemeral ports
// (net.ipv4.ip_local_port_range): a server that a test stops and starts
// again on the same port (a killed weft, an S3 server brought back after
// an outage) must find it free, and a port from the ephemeral range can be
// taken in between by any outgoing connection on the machine.
//
// Imports: none.
package testport
