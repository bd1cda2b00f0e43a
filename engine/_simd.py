"""Portable vector helpers written as LLVM IR through ``numba.extending.intrinsic``.

Only generic IR is emitted (a vector load, a constant byte shuffle, compares and a bitcast of
``<64 x i1>`` to ``i64``); LLVM lowers it to the host's best instructions (byte permutes and one
``vptestmb`` per plane with AVX-512BW/VBMI, ``pmovmskb`` sequences with AVX2/SSE2, scalar code
elsewhere), so kernels that use it stay correct on every CPU numba supports.
"""

from __future__ import annotations

from typing import Any

from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["GATHER_NEURONS", "PLANE_BYTES", "advance_lanes64", "code_planes", "feed_input8", "tick_gather16",
           "update_neuron8", "update_neuron16"]

#: Low bytes of each code that :func:`code_planes` transposes (bits 0..39).
PLANE_BYTES = 5


def _code_planes(typingctx: Any, codes: Any, lane0: Any, out: Any, out_off: Any, stride: Any) -> Any:
    """Transpose bits 0..39 of 64 consecutive codes into 40 lane masks.

    ``codes``: uint64[:] (C-contiguous); reads ``codes[lane0 : lane0 + 64]``.
    ``out``: uint64[:]; bit ``i`` of ``out[out_off + q * stride]`` is bit ``q`` of
    ``codes[lane0 + i]`` for ``q < 40``. No bounds checks: callers guarantee the ranges.
    """
    sig = types.void(codes, lane0, out, out_off, stride)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> None:
        codes_v, lane0_v, out_v, off_v, stride_v = args
        stride_i = context.cast(builder, stride_v, signature.args[4], types.int64)
        i64 = ir.IntType(64)
        i8 = ir.IntType(8)
        vec512 = ir.VectorType(i8, 512)
        vec64 = ir.VectorType(i8, 64)
        src = context.make_array(signature.args[0])(context, builder, codes_v)
        dst = context.make_array(signature.args[2])(context, builder, out_v)
        lane0_i = context.cast(builder, lane0_v, signature.args[1], types.int64)
        off_i = context.cast(builder, off_v, signature.args[3], types.int64)
        ptr = builder.bitcast(builder.gep(src.data, [lane0_i]), vec512.as_pointer())
        raw = builder.load(ptr, align=8)
        zero = ir.Constant(vec64, None)
        undef = ir.Constant(vec512, ir.Undefined)
        for j in range(PLANE_BYTES):
            # byte j of every little-endian code: bytes j, j+8, ..., j+504 of the block
            pick = ir.Constant(ir.VectorType(ir.IntType(32), 64), [j + 8 * i for i in range(64)])
            lanes = builder.shuffle_vector(raw, undef, pick)
            for k in range(8):
                bit = builder.and_(lanes, ir.Constant(vec64, [1 << k] * 64))
                mask = builder.bitcast(builder.icmp_unsigned("!=", bit, zero), i64)
                pos = builder.add(off_i, builder.mul(stride_i, ir.Constant(i64, 8 * j + k)))
                builder.store(mask, builder.gep(dst.data, [pos]))

    return sig, codegen


code_planes: Any = intrinsic(_code_planes)
code_planes.__doc__ = _code_planes.__doc__


def _make_update_neuron(width: int) -> Any:
    def update_neuron(typingctx: Any, cur: Any, nxt: Any, sel: Any, sel_off: Any, n: Any, na: Any, nb: Any,
                      nc: Any, n_words: Any, b0: Any) -> Any:
        sig = types.void(cur, nxt, sel, sel_off, n, na, nb, nc, n_words, b0)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> None:
            _emit_update(context, builder, signature, args, width)

        return sig, codegen

    typer = intrinsic(update_neuron)
    typer.__doc__ = f"""One bit-sliced LUT neuron over words ``b0 .. b0+{width - 1}`` (explicit vectors).

    ``cur``/``nxt``: uint64[:] state planes, plane ``p`` of neuron ``x`` at ``(2*x + p)*n_words``;
    ``sel``: uint16[:], the neuron's 18 subset codes *times {8 * width}* (byte offsets into the
    subset table) at ``sel_off`` in ``[plane][v(nc)][v(nb)]`` order. Writes both planes of
    neuron ``n`` into ``nxt`` from neighbours ``na, nb, nc`` of ``cur``. No bounds checks.
    """
    return typer


def _emit_update(context: Any, builder: Any, signature: Any, args: Any, width: int) -> None:
    cur_v, nxt_v, sel_v = args[:3]
    i64 = ir.IntType(64)
    i8 = ir.IntType(8)
    vty = ir.VectorType(i64, width)
    ints = [context.cast(builder, v, t, types.int64) for v, t in zip(args[3:], signature.args[3:], strict=True)]
    sel_off, n_i, na_i, nb_i, nc_i, words_i, b0_i = ints
    cur_p = context.make_array(signature.args[0])(context, builder, cur_v).data
    nxt_p = context.make_array(signature.args[1])(context, builder, nxt_v).data
    sel_p = context.make_array(signature.args[2])(context, builder, sel_v).data

    def plane_ptr(base: Any, neuron: Any, plane: int) -> Any:
        row = builder.add(builder.mul(neuron, ir.Constant(i64, 2)), ir.Constant(i64, plane))
        idx = builder.add(builder.mul(row, words_i), b0_i)
        return builder.bitcast(builder.gep(base, [idx]), vty.as_pointer())

    def load(neuron: Any, plane: int) -> Any:
        return builder.load(plane_ptr(cur_p, neuron, plane), align=8)

    ones = ir.Constant(vty, [(1 << 64) - 1] * width)
    a1, a2 = load(na_i, 0), load(na_i, 1)
    a12 = builder.or_(a1, a2)
    # the 8 subsets of the first neighbour's value, indexed by bitmask {0: bit0, 1: bit1, 2: bit2}
    subsets = [ir.Constant(vty, None), builder.xor(a12, ones), a1, builder.xor(a2, ones),
               a2, builder.xor(a1, ones), a12, ones]
    table = cgutils.alloca_once(builder, ir.ArrayType(vty, 8))
    for k, val in enumerate(subsets):
        builder.store(val, builder.gep(table, [ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), k)]))
    table_bytes = builder.bitcast(table, i8.as_pointer())
    b1, b2 = load(nb_i, 0), load(nb_i, 1)
    c1, c2 = load(nc_i, 0), load(nc_i, 1)

    def pick(s_: Any, x: Any, y: Any) -> Any:
        # bitwise select: x where s_ is set, else y (one vpternlogq with AVX-512)
        return builder.or_(builder.and_(s_, x), builder.and_(builder.xor(s_, ones), y))

    for plane in range(2):
        h = []
        for k in range(3):
            g = []
            for j in range(3):
                code_ptr = builder.gep(sel_p, [builder.add(sel_off, ir.Constant(i64, plane * 9 + k * 3 + j))])
                offset = builder.zext(builder.load(code_ptr), i64)  # uint16 byte offset
                entry = builder.bitcast(builder.gep(table_bytes, [offset]), vty.as_pointer())
                g.append(builder.load(entry, align=64))
            # trits never have both planes set, so two selects pick among the three values
            h.append(pick(b2, g[2], pick(b1, g[1], g[0])))
        out = pick(c2, h[2], pick(c1, h[1], h[0]))
        builder.store(out, plane_ptr(nxt_p, n_i, plane), align=8)


#: Words (of 64 windows) per :data:`update_neuron8` / :data:`update_neuron16` call.
update_neuron8 = _make_update_neuron(8)
update_neuron16 = _make_update_neuron(16)


def _advance_lanes64(typingctx: Any, feed: Any, ptr: Any, last: Any, codes: Any, rowcode: Any, lane0: Any,
                    flag: Any) -> Any:
    """Advance 64 lanes' row pointers by their feed bit and fetch each lane's next row code.

    ``feed``: uint64 (bit i: lane ``lane0 + i`` consumed a row); ``ptr``/``last``: int64[:]
    per-lane next row and last row of the lane's window; ``codes``: uint64[:] receives
    ``rowcode[ptr] | (flag if ptr == last)``; ``rowcode``: uint64[:]. One vector gather.
    """
    sig = types.void(feed, ptr, last, codes, rowcode, lane0, flag)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> None:
        feed_v, ptr_v, last_v, codes_v, row_v, lane0_v, flag_v = args
        i64 = ir.IntType(64)
        vty = ir.VectorType(i64, 64)
        pty = ir.VectorType(i64.as_pointer(), 64)
        lane0_i = context.cast(builder, lane0_v, signature.args[5], types.int64)

        def data(k: int, value: Any) -> Any:
            return context.make_array(signature.args[k])(context, builder, value).data

        def vptr(base: Any) -> Any:
            return builder.bitcast(builder.gep(base, [lane0_i]), vty.as_pointer())

        def splat(x: Any) -> Any:
            v = builder.insert_element(ir.Constant(vty, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
            return builder.shuffle_vector(v, ir.Constant(vty, ir.Undefined),
                                          ir.Constant(ir.VectorType(ir.IntType(32), 64), [0] * 64))

        ptr_p, last_p, codes_p, row_p = data(1, ptr_v), data(2, last_v), data(3, codes_v), data(4, row_v)
        bits = builder.and_(builder.lshr(splat(feed_v), ir.Constant(vty, list(range(64)))), ir.Constant(vty, [1] * 64))
        p = builder.add(builder.load(vptr(ptr_p), align=8), bits)
        builder.store(p, vptr(ptr_p), align=8)
        base = builder.ptrtoint(row_p, i64)
        addrs = builder.inttoptr(builder.add(splat(base), builder.shl(p, ir.Constant(vty, [3] * 64))), pty)
        gather_ty = ir.FunctionType(vty, [pty, ir.IntType(32), ir.VectorType(ir.IntType(1), 64), vty])
        gather = cgutils.get_or_insert_function(builder.module, gather_ty, "llvm.masked.gather.v64i64.v64p0")
        mask = ir.Constant(ir.VectorType(ir.IntType(1), 64), [1] * 64)
        code = builder.call(gather, [addrs, ir.Constant(ir.IntType(32), 8), mask, ir.Constant(vty, ir.Undefined)])
        is_last = builder.icmp_signed("==", p, builder.load(vptr(last_p), align=8))
        code = builder.or_(code, builder.select(is_last, splat(flag_v), ir.Constant(vty, None)))
        builder.store(code, vptr(codes_p), align=8)

    return sig, codegen


advance_lanes64: Any = intrinsic(_advance_lanes64)
advance_lanes64.__doc__ = _advance_lanes64.__doc__


def _feed_input8(typingctx: Any, cur: Any, dst: Any, planes: Any, src1: Any, src2: Any, feed: Any, b0: Any) -> Any:
    """Write one input neuron's planes for words ``b0 .. b0+7``: the row's trit where ``feed``, else UNKNOWN.

    ``cur``: uint64[:] state planes (p1 at ``dst``, p2 at ``dst + n_words`` with
    ``n_words = feed.shape[0]``); ``planes``: uint64[:] transposed row bits (p1 rows at
    ``src1``, p2 rows at ``src2``); ``feed``: uint64[n_words] lanes that take a row this tick.
    """
    sig = types.void(cur, dst, planes, src1, src2, feed, b0)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> None:
        cur_v, dst_v, planes_v, src1_v, src2_v, feed_v, b0_v = args
        i64 = ir.IntType(64)
        vty = ir.VectorType(i64, 8)
        feed_ary = context.make_array(signature.args[5])(context, builder, feed_v)
        n_words = builder.extract_value(feed_ary.shape, 0)
        cur_p = context.make_array(signature.args[0])(context, builder, cur_v).data
        planes_p = context.make_array(signature.args[2])(context, builder, planes_v).data
        dst_i = context.cast(builder, dst_v, signature.args[1], types.int64)
        src1_i = context.cast(builder, src1_v, signature.args[3], types.int64)
        src2_i = context.cast(builder, src2_v, signature.args[4], types.int64)
        b0_i = context.cast(builder, b0_v, signature.args[6], types.int64)

        def at(base: Any, idx: Any) -> Any:
            return builder.bitcast(builder.gep(base, [builder.add(idx, b0_i)]), vty.as_pointer())

        f = builder.load(at(feed_ary.data, ir.Constant(i64, 0)), align=8)
        not_f = builder.xor(f, ir.Constant(vty, [(1 << 64) - 1] * 8))
        p1 = builder.and_(builder.load(at(planes_p, src1_i), align=8), f)
        p2 = builder.or_(builder.and_(builder.load(at(planes_p, src2_i), align=8), f), not_f)
        builder.store(p1, at(cur_p, dst_i), align=8)
        builder.store(p2, at(cur_p, builder.add(dst_i, n_words)), align=8)

    return sig, codegen


feed_input8: Any = intrinsic(_feed_input8)
feed_input8.__doc__ = _feed_input8.__doc__


#: Neurons per :data:`tick_gather16` call.
GATHER_NEURONS = 16


def _tick_gather16(typingctx: Any, cur: Any, nxt: Any, links: Any, lut: Any, n0: Any, population: Any) -> Any:
    """One synchronous LUT update of neurons ``n0 .. n0+15`` with vector gathers (rolling-frame bpp9000).

    ``cur``/``nxt``: uint8[:] trits of every neuron, readable 3 bytes past the last neuron;
    ``links``: int32[3P] neighbour indices by slot (link ``j`` of neuron ``n`` at ``j*P + n``);
    ``lut``: uint8[:] 27 entries per neuron, readable 3 bytes past the last entry. Writes
    ``nxt[n] = lut[27n + cur[a] + 3 cur[b] + 9 cur[c]]``. Each gather reads a 32-bit word at a
    byte address and keeps its low byte (hence the padding). No bounds checks.
    """
    sig = types.void(cur, nxt, links, lut, n0, population)
    width = GATHER_NEURONS

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> None:
        i64, i32, i8 = ir.IntType(64), ir.IntType(32), ir.IntType(8)
        v32, v64 = ir.VectorType(i32, width), ir.VectorType(i64, width)
        pty = ir.VectorType(i32.as_pointer(), width)
        cur_p, nxt_p, links_p, lut_p = (context.make_array(signature.args[k])(context, builder, args[k]).data
                                        for k in range(4))
        n0_i = context.cast(builder, args[4], signature.args[4], types.int64)
        p_i = context.cast(builder, args[5], signature.args[5], types.int64)

        def splat(x: Any, vty: Any) -> Any:
            v = builder.insert_element(ir.Constant(vty, ir.Undefined), x, ir.Constant(i32, 0))
            return builder.shuffle_vector(v, ir.Constant(vty, ir.Undefined),
                                          ir.Constant(ir.VectorType(i32, width), [0] * width))

        gather_ty = ir.FunctionType(v32, [pty, i32, ir.VectorType(ir.IntType(1), width), v32])
        gather = cgutils.get_or_insert_function(builder.module, gather_ty, f"llvm.masked.gather.v{width}i32.v{width}p0")
        mask = ir.Constant(ir.VectorType(ir.IntType(1), width), [1] * width)

        def byte_gather(base: Any, offsets: Any) -> Any:
            base_v = splat(builder.ptrtoint(base, i64), v64)
            addrs = builder.inttoptr(builder.add(base_v, builder.zext(offsets, v64)), pty)
            word = builder.call(gather, [addrs, ir.Constant(i32, 1), mask, ir.Constant(v32, ir.Undefined)])
            return builder.and_(word, ir.Constant(v32, [0xFF] * width))

        def links_of(slot: int) -> Any:
            at = builder.add(n0_i, builder.mul(p_i, ir.Constant(i64, slot)))
            return builder.load(builder.bitcast(builder.gep(links_p, [at]), v32.as_pointer()), align=4)

        a, b, c = (byte_gather(cur_p, links_of(j)) for j in range(3))
        idx = builder.add(a, builder.add(builder.mul(b, ir.Constant(v32, [3] * width)),
                                         builder.mul(c, ir.Constant(v32, [9] * width))))
        rows = builder.add(splat(builder.trunc(builder.mul(n0_i, ir.Constant(i64, 27)), i32), v32),
                           ir.Constant(v32, [27 * i for i in range(width)]))
        out = byte_gather(lut_p, builder.add(rows, idx))
        dst = builder.bitcast(builder.gep(nxt_p, [n0_i]), ir.VectorType(i8, width).as_pointer())
        builder.store(builder.trunc(out, ir.VectorType(i8, width)), dst, align=1)

    return sig, codegen


tick_gather16: Any = intrinsic(_tick_gather16)
tick_gather16.__doc__ = _tick_gather16.__doc__
