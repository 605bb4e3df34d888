/* oneDNN's effective ISA on this machine (onednn_isa.c): its name, the onednn backend's
 * probe score, and whether oneDNN's int8 matmul sums exactly here. Shared by the backend
 * and `qkv bench`'s oneDNN reference rows, so both say the same of int8. */
#ifndef QKV_ONEDNN_ISA_H
#define QKV_ONEDNN_ISA_H

const char *onednn_isa_name(void);
int onednn_isa_score(void);
const char *onednn_isa_int8_exact(void);   /* why int8 sums are exact, or NULL: inexact */
const char *onednn_isa_int8_refused(void); /* why int8 is inexact (and refused) where it is */

#endif
