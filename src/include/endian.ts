// The host's byte order, for the model's 32-bit word views of simulated bytes. No kernel file:
// the simulated machines are little-endian (include/uapi/linux/byteorder/little_endian.h), and
// a host that is too reads a DataView's little-endian words through a Uint32Array as they are.

/** Whether this host stores 32-bit words little-endian (every host Node and browsers run on). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
