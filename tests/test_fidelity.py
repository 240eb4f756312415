"""Official-compatible modes against hand-written references of the released
formulas (BPT: WangYZ1608/BPT; DA-VPT: Noahsark/DA-VPT), on inputs where
they differ from mmprompt's defaults (T != D; prompts without positives)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mmprompt  # noqa: F401
from mmprompt.methods.bpt import (BilinearPrompt, BilinearPromptViT,
                                  compute_whitening_statistics,
                                  whitening_matrix)
from mmprompt.methods.davpt import DAVPTLoss
from helpers import TINY_VIT

TINY = dict(TINY_VIT, num_layers=2)
D = 32


# ------------------------------------------------------------ BPT whitening
def released_whitening(q_lin, k_lin, xs, eps=0.):
    """The released BPT ``_init_weights`` formula, written from its
    description: ``qkx = q @ k^T @ x^T`` (nn.Linear weights), averaged over
    images, ``n = qkx.size(0)``, ``sigma = qkx qkx^T / n``, ``svd``,
    ``w = u diag(s^-1/2) v^T`` (plus eps, mmprompt's only difference)."""
    qkx = np.stack([q_lin @ k_lin.T @ x.T for x in xs]).mean(0)
    n = qkx.shape[0]
    sigma = qkx @ qkx.T * (1 / n)
    u, s, vt = np.linalg.svd(sigma)
    return u @ np.diag((s + eps)**-0.5) @ vt, sigma


def ln1_inputs(model, x, layer):
    tokens = []
    handle = model.layers[layer].ln1.register_forward_hook(
        lambda m, i, o: tokens.append(o.detach().double()))
    with torch.no_grad(), model.without_prompts():
        model(x)
    handle.remove()
    return tokens[0].numpy()


@pytest.mark.parametrize('img_size,full_rank', [(48, True), (32, False)])
def test_official_whitening_is_the_released_formula(img_size, full_rank):
    """average_images=True + qk_product='transposed': Sigma = Mbar Mbar^T / D
    exactly (T = 37 or 17 tokens, D = 32: dividing by T would differ by
    D / T); where Sigma has full rank, W equals the released svd formula
    with the same eps."""
    torch.manual_seed(0)
    model = BilinearPromptViT(
        arch=TINY,
        img_size=img_size,
        patch_size=8,
        variant='fwhiten',
        num_prompts=1)
    model.init_weights()
    with torch.no_grad():  # an affine ln1, so the tokens span all D dims
        for layer in model.layers:
            layer.ln1.weight.normal_(1., 0.3)
            layer.ln1.bias.normal_(0., 0.5)
    model.eval()
    x = torch.randn(5, 3, img_size, img_size)
    stats = compute_whitening_statistics(
        model, [x[:3], x[3:]], [0, 1],
        average_images=True,
        qk_product='transposed')
    for layer in (0, 1):
        weight = model.layers[layer].attn.qkv.weight.detach().double()
        weight = weight.numpy()
        xs = list(ln1_inputs(model, x, layer))
        T = xs[0].shape[0]
        assert T == (37 if full_rank else 17) and T != D
        w_ref, sigma_ref = released_whitening(weight[:D], weight[D:2 * D], xs)
        sigma = stats[layer].covariance().numpy()
        np.testing.assert_allclose(
            sigma, sigma_ref, rtol=2e-5, atol=1e-7 * abs(sigma_ref).max())
        # the former divisor (T) is not what the released code computes
        assert not np.allclose(sigma, sigma_ref * D / T, rtol=1e-3)
        if full_rank:
            assert np.linalg.matrix_rank(sigma_ref) == D
            eps = 1e-12 * float(np.linalg.eigvalsh(sigma_ref).max())
            w = whitening_matrix(stats[layer].covariance(), eps).numpy()
            w_ref_eps, _ = released_whitening(weight[:D], weight[D:2 * D], xs,
                                              eps)
            # the released svd formula with the same eps (its W without
            # eps is ill-conditioned here: eps = 1e-12 of the largest
            # eigenvalue already moves it by ~0.5 %)
            np.testing.assert_allclose(
                w, w_ref_eps, rtol=1e-5, atol=1e-7 * abs(w_ref).max())
        else:  # rank <= T < D: the released W is not finite; eps keeps it
            with np.errstate(divide='ignore', invalid='ignore'):
                assert not np.isfinite(w_ref).all() or \
                    abs(w_ref).max() > 1e6 * abs(sigma_ref).max() ** -0.5
            with pytest.warns(UserWarning, match='singular'):
                w = whitening_matrix(stats[layer].covariance(), 1e-5,
                                     stats[layer].num_token_vectors)
            assert torch.isfinite(w).all()


def test_released_whitening_without_eps_is_finite_unless_a_zero_eigenvalue():
    """What the docs say of the released ``u diag(s^-1/2) v^T`` (torch.svd,
    no eps): with T < D it is finite but very large outside Sigma's range;
    NaN/inf appear only where the SVD returns a singular value of 0."""

    def released(sigma):
        u, s, v = torch.svd(sigma)
        return u @ torch.diag(s**(-0.5)) @ v.transpose(1, 0)

    torch.manual_seed(0)
    m = torch.randn(16, 5)  # Mbar, D x T with T = 5 < D = 16
    w = released(m @ m.t() * (1 / m.size(0)))
    assert torch.isfinite(w).all() and w.abs().max() > 1e2
    w = released(torch.diag(torch.arange(16.)))  # one eigenvalue exactly 0
    assert int(torch.isnan(w).sum()) == 255 and int(torch.isinf(w).sum()) == 1


# ------------------------------------------------------ BPT whitening draw
def test_per_column_draw_is_the_released_gather():
    torch.manual_seed(0)
    a = torch.randn(D, D, dtype=torch.float64)
    w = (a + a.t()).float()  # a symmetric "whitening matrix"
    gen = BilinearPrompt(
        num_tokens=4,
        embed_dims=D,
        width=5,
        b_init='whitening',
        whitening_subset='per_column',
        seed=3)
    gen.set_whitening(w)
    # the released draw, with the same noise: ids_keep of each row d
    g = torch.Generator().manual_seed(3)
    noise = torch.rand(D, D, generator=g)
    ids_keep = torch.argsort(noise, dim=1)[:, :5]
    conv_weight = torch.gather(w, 1, ids_keep)  # (D, c): the 1x1 conv
    torch.testing.assert_close(gen.b, conv_weight.t())
    # P = A B is the released conv applied to A's columns
    torch.testing.assert_close(gen(), gen.a @ conv_weight.t())
    # each column of B draws its own subset: not the rows of one subset
    rows = BilinearPrompt(
        num_tokens=4, embed_dims=D, width=5, b_init='whitening', seed=3)
    rows.set_whitening(w)
    torch.testing.assert_close(rows.b, w[rows.whitening_rows()])
    assert not torch.allclose(rows.b, gen.b)
    assert len({tuple(r) for r in ids_keep.sort(1).values.tolist()}) > 1
    with pytest.raises(ValueError, match="Unknown whitening_subset 'cols'"):
        BilinearPrompt(
            num_tokens=4, embed_dims=D, width=5, whitening_subset='cols')


def released_deep_draws(seed, depth, embed_dim, channels):
    """The released deep model's ``_init_weights``, written from its
    description: its ``conv1x1`` are built one per layer, in order, and each
    draws ``noise = torch.rand(D, D)`` from the one global generator, then
    keeps ``argsort(noise, 1)[:, :channels]``."""
    torch.manual_seed(seed)
    return [
        torch.argsort(torch.rand(embed_dim, embed_dim), dim=1)[:, :channels]
        for _ in range(depth)
    ]


@pytest.mark.parametrize('seed', [0, 7])
def test_deep_per_column_draws_each_layer_as_the_released_sequence(seed):
    """Deep BPT with the released draw: layer l's column pattern is the
    l-th rand(D, D) after seeding, as the released layers draw one after
    another; every layer differs; B of each layer is its own gather."""
    state = torch.random.get_rng_state()
    expected = released_deep_draws(seed, 4, D, 5)
    torch.random.set_rng_state(state)

    def released_draw_bpt(mode):
        return BilinearPromptViT(
            arch=dict(TINY, num_layers=4),
            img_size=32,
            patch_size=8,
            variant='bilinear',
            width=5,
            num_prompts=3,
            prompt_mode=mode,
            bilinear_init='whitening',
            bilinear_whitening_subset='per_column',
            bilinear_seed=seed)

    model = released_draw_bpt('deep')
    assert [g.draw_index for g in model.prompts] == [0, 1, 2, 3]
    for layer, generator in enumerate(model.prompts):
        torch.testing.assert_close(generator.whitening_columns(),
                                   expected[layer])
        w = torch.randn(D, D)
        generator.set_whitening(w)
        torch.testing.assert_close(generator.b,
                                   torch.gather(w, 1, expected[layer]).t())
    assert len({tuple(i.flatten().tolist()) for i in expected}) == 4
    # shallow: one layer, the first draw (what it always was)
    shallow = released_draw_bpt('shallow')
    torch.testing.assert_close(shallow.prompts[0].whitening_columns(),
                               expected[0])
    with pytest.raises(
            ValueError,
            match='draw_index must be an int >= 0, '
            'got draw_index=-1'):
        BilinearPrompt(num_tokens=4, embed_dims=D, width=5, draw_index=-1)


# ------------------------------------------------ BPT deep trainable set
def test_official_deep_trains_b_of_layers_8_to_11_only():
    with torch.device('meta'):
        official = BilinearPromptViT(
            arch='b',
            variant='bilinear',
            width=50,
            num_prompts=50,
            prompt_mode='deep',
            trainable_factor_layers=(8, 9, 10, 11))
        every = BilinearPromptViT(
            arch='b',
            variant='bilinear',
            width=50,
            num_prompts=50,
            prompt_mode='deep')
    # A (50 x 50) in all 12 layers, B (50 x 768) in four of them
    assert official.trainable_parameter_count() == \
        12 * 50 * 50 + 4 * 50 * 768 == 183_600
    assert every.trainable_parameter_count() == 12 * (50 * 50 + 50 * 768)
    trainable = {n for n, p in official.named_parameters() if p.requires_grad}
    assert trainable == {f'prompts.{i}.a'
                         for i in range(12)
                         } | {f'prompts.{i}.b'
                              for i in (8, 9, 10, 11)}


def test_frozen_factors_do_not_move_in_training():
    torch.manual_seed(0)
    model = BilinearPromptViT(
        arch=TINY,
        img_size=32,
        patch_size=8,
        variant='twhiten',
        num_prompts=2,
        prompt_mode='deep',
        trainable_factor_layers=[1])
    for g in model.prompts:
        g.set_whitening(torch.eye(D) + 0.01 * torch.randn(D, D))
    before = [g.whitening.detach().clone() for g in model.prompts]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                            lr=0.1)
    model.train()
    model(torch.randn(2, 3, 32, 32))[0].square().mean().backward()
    opt.step()
    torch.testing.assert_close(model.prompts[0].whitening, before[0])
    assert not torch.allclose(model.prompts[1].whitening, before[1])


@pytest.mark.parametrize('kwargs,match', [
    (dict(trainable_factor_layers=[2]),
     r'trainable_factor_layers=\[2\]: \[2\] are not among the 2 prompted'),
    (dict(trainable_factor_layers=[1], prompt_mode='shallow'),
     r'\[1\] are not among the 1 prompted layers \(shallow prompts'),
    (dict(trainable_factor_layers='last'),
     "must be a list of layer indices or None, got 'last'"),
    (dict(trainable_factor_layers=[0],
          variant='fwhiten'), "does not apply to variant='fwhiten'"),
])
def test_bad_trainable_factor_layers(kwargs, match):
    kwargs = {**dict(num_prompts=2, prompt_mode='deep', width=8), **kwargs}
    with pytest.raises(ValueError, match=match):
        BilinearPromptViT(arch=TINY, img_size=32, patch_size=8, **kwargs)


# ------------------------------------------------------- DA-VPT released loss
def released_proxy_anchor(anchors,
                          proxies,
                          labels,
                          scale_ratio,
                          alpha=32.,
                          pos_delta=0.1,
                          neg_delta=-0.1):
    """The released ``ml_*_forward`` with ``masked_logsumexp``, written from
    its description: normalised anchors against normalised proxies times
    ``loss_vpt_scale_ratio``; per prompt, log(1 + sum exp) over its masked
    anchors (0 where it has none); both terms averaged over ALL prompts."""
    a = anchors / anchors.norm(dim=-1, keepdim=True)
    p = proxies / proxies.norm(dim=-1, keepdim=True) * scale_ratio
    sims = a @ p.t()
    same = labels[:, None] == torch.arange(proxies.shape[0])[None]

    def masked_log1p_sum_exp(values, mask):
        out = []
        for k in range(values.shape[1]):
            v = values[mask[:, k], k]
            out.append(
                torch.logsumexp(torch.cat([v, v.new_zeros(1)]), 0) if v.numel(
                ) else values.new_zeros(()))
        return torch.stack(out)

    pos = masked_log1p_sum_exp(-alpha * (sims - pos_delta), same)
    neg = masked_log1p_sum_exp(alpha * (sims - neg_delta), ~same)
    return pos.mean() + neg.mean()


@pytest.mark.parametrize('scale_ratio', [1., 5., 0.])
def test_released_loss_mode_is_the_released_formula(scale_ratio):
    torch.manual_seed(0)
    anchors, proxies = torch.randn(6, 16), torch.randn(5, 16)
    labels = torch.tensor([0, 0, 2, 2, 2, 4])  # prompts 1 and 3: no positive
    released = DAVPTLoss(positive_mean='all', proxy_scale=scale_ratio)
    expected = released_proxy_anchor(anchors, proxies, labels, scale_ratio)
    torch.testing.assert_close(released(anchors, proxies, labels), expected)
    paper = DAVPTLoss(proxy_scale=scale_ratio)(anchors, proxies, labels)
    if scale_ratio:  # the paper averages over the 3 prompts with positives
        assert abs(float(paper) - float(expected)) > 0.1
    # with a positive for every prompt the two means agree
    labels = torch.tensor([0, 1, 2, 3, 4, 4])
    torch.testing.assert_close(
        released(anchors, proxies, labels),
        released_proxy_anchor(anchors, proxies, labels, scale_ratio))
    torch.testing.assert_close(
        DAVPTLoss(proxy_scale=scale_ratio)(anchors, proxies, labels),
        released(anchors, proxies, labels))


@pytest.mark.parametrize('kwargs,match', [
    (dict(positive_mean='any'), "Unknown positive_mean 'any'"),
    (dict(proxy_scale=-1.), 'proxy_scale must be >= 0, got proxy_scale=-1'),
])
def test_bad_released_loss_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DAVPTLoss(**kwargs)


# ------------------------------------------------- DA-VPT released mapping
def test_layer_normed_mapping_is_the_released_kmeans_norm():
    """feature_norm='layer': F.layer_norm without affine, then cosine
    k-means (the released kmeans_norm: layer). On classes whose features
    share a large offset it clusters differently from plain L2."""
    from sklearn.cluster import KMeans

    from mmprompt.methods.davpt import initial_mapping
    torch.manual_seed(0)
    # 4 groups around different directions, each class shifted along the
    # all-ones direction by its own large amount: that shift dominates the
    # raw cosine; layer norm removes it (the mean over the features)
    centres = torch.randn(4, 16) * 3
    feats = torch.cat([c + 0.3 * torch.randn(5, 16) for c in centres])
    feats = feats + 200 * torch.rand(20, 1) * torch.ones(16)
    mapping, centroids = initial_mapping(
        feats, 4, seed=0, feature_norm='layer')
    x = F.layer_norm(feats.double(), (16, ))
    x = x / x.norm(dim=1, keepdim=True)
    expected = KMeans(n_clusters=4, n_init=10, random_state=0).fit(x.numpy())
    assert mapping.tolist() == expected.labels_.tolist()
    np.testing.assert_allclose(
        centroids.numpy(), expected.cluster_centers_, rtol=1e-5, atol=1e-6)
    # the 4 groups are found once the offset is removed
    assert all(
        len(set(mapping[i * 5:(i + 1) * 5].tolist())) == 1 for i in range(4))
    l2_mapping, _ = initial_mapping(feats, 4, seed=0, feature_norm='l2')
    assert l2_mapping.tolist() != mapping.tolist()
    with pytest.raises(ValueError, match="Unknown feature_norm 'cosine'"):
        initial_mapping(feats, 4, feature_norm='cosine')


def test_remapping_uses_the_class_means_of_its_own_epoch():
    """With start_epoch=2 (the released dynamic_kmeans: 1) nothing is
    re-mapped after epoch 1, and the class sums of epoch 1 are dropped, as
    the released code resets them every epoch."""
    from types import SimpleNamespace

    from mmprompt.methods.davpt import DAVPTMappingHook
    hook = DAVPTMappingHook(start_epoch=2, feature_norm='layer')
    model = SimpleNamespace(
        set_mapping=lambda *a: None,
        class_feat_sum=torch.ones(3, 4),
        class_feat_count=torch.ones(3))
    runner = SimpleNamespace(model=model, epoch=0)
    hook.after_train_epoch(runner)  # end of epoch 1: no re-mapping
    assert model.class_feat_sum.abs().sum() == 0
    assert model.class_feat_count.sum() == 0
    with pytest.raises(ValueError, match="Unknown feature_norm 'l1'"):
        DAVPTMappingHook(feature_norm='l1')


# ------------------------------------------------ DA-VPT first mapping, MAE
def test_mae_first_mapping_norm_of_mean_is_the_released_pooling():
    """first_pooling='norm_of_mean': each image's feature is the final norm
    of the mean of the last layer's patch tokens, as the released
    ``create_vit(global_pool=True)`` does (``norm(x[:, 1:].mean(1))``),
    checked against a plain mmpretrain ViT with the same weights; the
    model's own pooling (mean of the normed tokens) differs."""
    from types import SimpleNamespace

    from mmpretrain.models import VisionTransformer
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    from mmpretrain.structures import DataSample

    from mmprompt.methods.davpt import DAVPTMappingHook

    labels = np.array([0, 0, 1, 1, 2, 2])

    class TinySet:

        def get_gt_labels(self):
            return labels

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            return dict(
                inputs=torch.randint(
                    0, 256, (3, 32, 32), generator=g, dtype=torch.uint8),
                data_samples=DataSample().set_gt_label(int(labels[i])))

    torch.manual_seed(0)
    model = PRETRAIN_MODELS.build(
        dict(
            type='mmprompt.DAVPTClassifier',
            data_preprocessor=dict(
                type='ClsDataPreprocessor',
                num_classes=3,
                mean=[127.5] * 3,
                std=[64.] * 3),
            backbone=dict(
                type='mmprompt.PromptViT',
                arch=TINY_VIT,
                img_size=32,
                patch_size=8,
                num_prompts=2,
                prompt_mode='deep',
                final_norm=True,
                out_type='avg_all_tokens'),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=D),
            anchor_source='released'))
    model.init_weights()
    with torch.no_grad():  # an affine final norm: the two orders differ
        model.backbone.ln1.weight.normal_(1., 0.5)
        model.backbone.ln1.bias.normal_(0., 0.5)
    runner = SimpleNamespace(
        train_dataloader=SimpleNamespace(dataset=TinySet()),
        logger=SimpleNamespace(warning=print))
    released, _ = DAVPTMappingHook(
        num_images_per_class=2,
        first_pooling='norm_of_mean').class_representations(runner, model)
    ours, _ = DAVPTMappingHook(num_images_per_class=2).class_representations(
        runner, model)

    plain = VisionTransformer(
        arch=TINY_VIT,
        img_size=32,
        patch_size=8,
        final_norm=False,
        out_type='raw')
    plain.eval()
    missing, _ = plain.load_state_dict(
        {
            k: v
            for k, v in model.backbone.state_dict().items()
            if not k.startswith(('prompts.', 'ln1.'))
        },
        strict=False)
    assert missing == []
    norm = model.backbone.ln1
    with torch.no_grad():
        inputs = model.data_preprocessor(
            dict(inputs=[TinySet()[i]['inputs'] for i in range(6)]),
            False)['inputs']
        tokens = plain(inputs)[-1]  # (6, 1 + N, D), before the final norm
        norm_of_mean = F.layer_norm(tokens[:, 1:].mean(1), (D, ), norm.weight,
                                    norm.bias, norm.eps)
        mean_of_norm = F.layer_norm(tokens[:, 1:], (D, ), norm.weight,
                                    norm.bias, norm.eps).mean(1)
    torch.testing.assert_close(released, norm_of_mean.reshape(3, 2, D).mean(1))
    torch.testing.assert_close(ours, mean_of_norm.reshape(3, 2, D).mean(1))
    assert (released - ours).abs().max() > 0.1

    with pytest.raises(ValueError, match="Unknown first_pooling 'mean'"):
        DAVPTMappingHook(first_pooling='mean')
    model.backbone.out_type = 'cls_token'
    with pytest.raises(
            ValueError,
            match="first_pooling='norm_of_mean' "
            "needs every final token .* out_type='cls_token'"):
        DAVPTMappingHook(first_pooling='norm_of_mean') \
            .class_representations(runner, model)
